// Cursor leases over PostgreSQL session-level advisory locks (docs/postgres.md, "Delivery
// leases"). Every lease is `pg_try_advisory_lock(k)` on one dedicated connection, with k a
// stable 64-bit hash of the store's schema and the lease key. A node that dies closes its
// connection and PostgreSQL frees its locks at once, so a takeover needs no timeout.
//
// The connection breaking (the server restarted, pg_terminate_backend, a network failure)
// means the locks may be gone: every lease is then reported lost (IsHeld is false) and the
// next Refresh reconnects; leases are taken again by TryAcquire.
//
// Two keys with the same hash share one lock: the node that holds it drives both cursors
// (2^-64 per pair: a collision changes who drives, never what is delivered).
//
// Thread safety: every method may be called from any thread; statements are serialised on
// the one connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "annals/cursor_leases.h"
#include "postgres/pg_connection.h"

namespace annals::pg {

class AdvisoryLeases final : public CursorLeases {
 public:
  // Connects and reads the schema the store's tables live in. kUnavailable when the server
  // cannot be reached.
  static Result<std::unique_ptr<AdvisoryLeases>> Open(ConnectOptions options);

  bool TryAcquire(const std::string& key) override;
  void Release(const std::string& key) override;
  bool IsHeld(const std::string& key) override;
  void Refresh() override;
  // The application_name of the session holding the lock (ConnectOptions::application_name:
  // the node's name), from pg_locks; remembered for a second, so a storm of refused consumers
  // costs one statement a second per cursor.
  Result<std::optional<std::string>> Holder(const std::string& key) override;

  // The advisory lock key of `key` in the schema `scope` (FNV-1a 64 of both).
  static int64_t LockKey(std::string_view scope, std::string_view key);

 private:
  explicit AdvisoryLeases(ConnectOptions options) : options_(std::move(options)) {}
  // Opens a connection when there is none and the retry delay has passed.
  bool ConnectedLocked();
  // The connection failed: its locks may be gone, so none is held any more.
  void LoseAllLocked();

  const ConnectOptions options_;
  std::mutex mu_;
  std::unique_ptr<Connection> connection_;
  std::string scope_;
  std::set<std::string> held_;
  struct KnownHolder {
    std::optional<std::string> name;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, KnownHolder> holders_;
  std::chrono::steady_clock::time_point reconnect_after_{};
  Status last_error_;  // of the last failed connection attempt
};

}  // namespace annals::pg
