// Checks a PostgreSQL connection URI without connecting, so that a malformed one is reported
// as invalid input (exit 2) rather than as a server that cannot be reached (exit 9).
#pragma once

#include <string>

#include "annals/status.h"

namespace annals::cli {

// kInvalidArgument when libpq cannot parse `uri` (PQconninfoParse: a bad percent-encoding,
// an unknown parameter) or when a parameter libpq checks only as it connects has a value it
// would refuse: an enumerated one (sslmode, gssencmode, channel_binding,
// target_session_attrs, ssl_min/max_protocol_version), a port or an integer. OK otherwise.
Status ValidatePostgresUri(const std::string& uri);

}  // namespace annals::cli
