// The one rule for expected revisions (docs/event-store-semantics.md, "Append" rule 5), shared
// by every store so they cannot drift apart.
#pragma once

#include <optional>
#include <string_view>

#include "annals/status.h"
#include "annals/types.h"

namespace annals {

// `last` is the stream's last revision (nullopt if it never had an event); `soft_deleted` says
// whether it is soft-deleted now. Ok, or kWrongExpectedRevision with the conflict filled in.
Status CheckExpectedRevision(std::string_view stream, ExpectedRevision expected,
                             std::optional<Revision> last, bool soft_deleted);

}  // namespace annals
