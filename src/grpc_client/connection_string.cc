// KurrentDB's connection string, single-node form (docs/sdk.md, "gRPC store").
#include <cctype>
#include <charconv>

#include "annals/grpc_store.h"
#include "core/percent_encoding.h"

namespace annals {

namespace {

Status Bad(std::string_view why) {
  return Status(StatusCode::kInvalidArgument, "connection string: " + std::string(why));
}

std::optional<bool> ParseBool(std::string_view v) {
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  return std::nullopt;
}

template <class T>
std::optional<T> ParseNumber(std::string_view v) {
  T n{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

// Case-insensitive, as KurrentDB's clients read the keys.
bool KeyIs(std::string_view key, std::string_view name) {
  if (key.size() != name.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(key[i])) !=
        std::tolower(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

Status ApplyOption(std::string_view key, std::string_view value, GrpcEndpoint* out) {
  if (KeyIs(key, "tls")) {
    auto b = ParseBool(value);
    if (!b) return Bad("tls must be true or false");
    out->tls = *b;
  } else if (KeyIs(key, "tlsVerifyCert")) {
    auto b = ParseBool(value);
    if (!b) return Bad("tlsVerifyCert must be true or false");
    out->verify_cert = *b;
  } else if (KeyIs(key, "tlsCAFile")) {
    if (value.empty()) return Bad("tlsCAFile is empty");
    out->ca_file = std::string(value);
  } else if (KeyIs(key, "defaultDeadline")) {
    auto ms = ParseNumber<uint64_t>(value);
    if (!ms || *ms == 0) return Bad("defaultDeadline must be a positive number of milliseconds");
    out->deadline = std::chrono::milliseconds(*ms);
  } else if (KeyIs(key, "annalsExtensions")) {
    auto b = ParseBool(value);
    if (!b) return Bad("annalsExtensions must be true or false");
    out->annals_extensions = *b;
  } else if (KeyIs(key, "nodePreference") || KeyIs(key, "connectionName") ||
             KeyIs(key, "keepAliveInterval") || KeyIs(key, "keepAliveTimeout") ||
             KeyIs(key, "maxDiscoverAttempts") || KeyIs(key, "discoveryInterval") ||
             KeyIs(key, "gossipTimeout")) {
    // Cluster and connection tuning of KurrentDB's clients: meaningless for one node with
    // gRPC's own keepalive, accepted so their connection strings work unchanged.
  } else {
    return Bad("unknown option '" + std::string(key) + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<GrpcEndpoint> ParseGrpcConnectionString(std::string_view text) {
  GrpcEndpoint out;
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return Bad("expected kurrentdb://host:port");
  const std::string_view scheme = text.substr(0, scheme_end);
  if (scheme == "kurrentdb+discover" || scheme == "esdb+discover" || scheme == "kdb+discover") {
    return Bad("cluster discovery is not supported: Annals runs as one node");
  }
  if (scheme != "kurrentdb" && scheme != "esdb" && scheme != "kdb") {
    return Bad("the scheme must be kurrentdb://, kdb:// or esdb://");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return Bad("credentials must be user:password");
    auto user = PercentDecode(userinfo.substr(0, colon), false);
    auto password = PercentDecode(userinfo.substr(colon + 1), false);
    if (!user || !password || user->empty()) return Bad("malformed credentials");
    out.username = std::move(*user);
    out.password = std::move(*password);
  }
  if (rest.find(',') != std::string_view::npos) {
    return Bad("several hosts are not supported: Annals runs as one node");
  }
  if (rest.empty()) return Bad("the host is missing");
  std::string_view host = rest;
  if (rest.front() == '[') {  // [::1]:2113
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return Bad("unterminated IPv6 address");
    host = rest.substr(0, close + 1);
    rest = rest.substr(close + 1);
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    rest = rest.substr(colon);
  } else {
    rest = {};
  }
  if (!rest.empty()) {
    if (rest.front() != ':') return Bad("expected :port after the host");
    auto port = ParseNumber<uint16_t>(rest.substr(1));
    if (!port || *port == 0) return Bad("the port must be 1..65535");
    out.port = *port;
  }
  if (host.empty()) return Bad("the host is missing");
  out.host = std::string(host);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return Bad("option '" + std::string(pair) + "' has no value");
    auto value = PercentDecode(pair.substr(eq + 1), false);
    if (!value) return Bad("malformed option value");
    ANNALS_RETURN_IF_ERROR(ApplyOption(pair.substr(0, eq), *value, &out));
  }
  return out;
}

}  // namespace annals
