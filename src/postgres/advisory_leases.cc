#include "postgres/advisory_leases.h"

#include <utility>

namespace annals::pg {
namespace {

constexpr auto kReconnectDelay = std::chrono::seconds(1);
constexpr auto kHolderKnownFor = std::chrono::seconds(1);

// Server-side keepalives of the lease session: a node whose host vanished without closing
// its TCP connection (power loss, a partition) has its locks freed after about
// idle + interval * count = 11 s, instead of the kernel's default of hours. (They do not
// apply over a unix socket, where the peer's death always closes the connection.)
constexpr std::string_view kKeepaliveSql =
    "SELECT set_config('tcp_keepalives_idle', '5', false) IS NOT NULL, "
    "set_config('tcp_keepalives_interval', '2', false) IS NOT NULL, "
    "set_config('tcp_keepalives_count', '3', false) IS NOT NULL, current_schema()";

}  // namespace

int64_t AdvisoryLeases::LockKey(std::string_view scope, std::string_view key) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(scope);
  mix(std::string_view("\0", 1));  // ("ab", "c") and ("a", "bc") differ
  mix(key);
  return static_cast<int64_t>(h);
}

Result<std::unique_ptr<AdvisoryLeases>> AdvisoryLeases::Open(ConnectOptions options) {
  std::unique_ptr<AdvisoryLeases> leases(new AdvisoryLeases(std::move(options)));
  std::lock_guard lock(leases->mu_);
  leases->reconnect_after_ = {};
  if (!leases->ConnectedLocked()) return leases->last_error_;
  return leases;
}

bool AdvisoryLeases::ConnectedLocked() {
  if (connection_ && !connection_->broken()) return true;
  if (connection_) LoseAllLocked();
  const auto now = std::chrono::steady_clock::now();
  if (now < reconnect_after_) return false;
  reconnect_after_ = now + kReconnectDelay;
  Result<std::unique_ptr<Connection>> opened = Connection::Open(options_);
  if (!opened.ok()) {
    last_error_ = opened.status();
    return false;
  }
  Result<Rows> set = (*opened)->Exec(kKeepaliveSql);
  if (!set.ok() || set->size() != 1) {
    last_error_ =
        set.ok() ? Status(StatusCode::kInternal, "postgres: no current schema") : set.status();
    return false;
  }
  const std::string scope = set->Bytes(0, 3);
  // The schema is part of every key, so it must not change under the held locks.
  if (!scope_.empty() && scope != scope_) {
    last_error_ =
        Status(StatusCode::kInvalidArgument,
               "postgres: the lease connection's schema changed from " + scope_ + " to " + scope);
    return false;
  }
  scope_ = scope;
  connection_ = std::move(*opened);
  return true;
}

void AdvisoryLeases::LoseAllLocked() {
  held_.clear();
  connection_.reset();  // closing it frees whatever locks the server still holds for it
}

bool AdvisoryLeases::TryAcquire(const std::string& key) {
  std::lock_guard lock(mu_);
  if (held_.count(key)) return true;
  if (!ConnectedLocked()) return false;
  Result<Rows> got =
      connection_->Exec("SELECT pg_try_advisory_lock($1)", Params().Int64(LockKey(scope_, key)));
  if (!got.ok()) {
    if (connection_->broken()) LoseAllLocked();
    return false;
  }
  if (got->size() != 1 || !got->Bool(0, 0)) return false;
  held_.insert(key);
  return true;
}

void AdvisoryLeases::Release(const std::string& key) {
  std::lock_guard lock(mu_);
  if (!held_.erase(key) || !connection_) return;
  Result<Rows> done =
      connection_->Exec("SELECT pg_advisory_unlock($1)", Params().Int64(LockKey(scope_, key)));
  // An unlock that fails leaves the lock with the session: end the session, which frees it.
  if (!done.ok()) LoseAllLocked();
}

bool AdvisoryLeases::IsHeld(const std::string& key) {
  std::lock_guard lock(mu_);
  return held_.count(key) > 0;
}

void AdvisoryLeases::Refresh() {
  std::lock_guard lock(mu_);
  if (!ConnectedLocked()) return;
  // Any statement fails on a connection the server closed; a statement timeout on this
  // session would leave it usable.
  if (!connection_->Exec("SELECT 1").ok() && connection_->broken()) LoseAllLocked();
}

Result<std::optional<std::string>> AdvisoryLeases::Holder(const std::string& key) {
  std::lock_guard lock(mu_);
  if (held_.count(key)) return std::optional<std::string>();
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(holders_, [&](const auto& known) { return known.second.until <= now; });
  if (auto known = holders_.find(key); known != holders_.end()) return known->second.name;
  if (!ConnectedLocked()) {
    // Waiting to reconnect after a lost connection, which is not an attempt that failed.
    if (!last_error_.ok()) return last_error_;
    return Status(StatusCode::kUnavailable, "postgres: the lease connection was lost");
  }
  // A bigint advisory lock shows in pg_locks as classid (high half), objid (low half) and
  // objsubid 1.
  const auto k = static_cast<uint64_t>(LockKey(scope_, key));
  Result<Rows> found = connection_->Exec(
      "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1",
      Params().Int64(static_cast<int64_t>(k >> 32)).Int64(static_cast<int64_t>(k & 0xffffffffu)));
  if (!found.ok()) {
    if (connection_->broken()) LoseAllLocked();
    return found.status();
  }
  std::optional<std::string> name;
  if (found->size() == 1) name = found->Bytes(0, 0);
  holders_[key] = KnownHolder{name, now + kHolderKnownFor};
  return name;
}

}  // namespace annals::pg
