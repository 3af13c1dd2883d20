// A fixed-size pool of libpq connections. Connections are opened on demand up to the limit;
// a request waits up to the checkout timeout for a free one. A connection that broke (lost,
// or returned in an unknown transaction state) is closed on return, and its slot is refilled
// by a fresh connection at the next checkout: the pool reconnects by itself. Idle connections
// whose session the server ended (a restart) are found and replaced at checkout, before any
// request uses them.
//
// The pool logs when the database is lost (a connection cannot be opened: a warning) and when
// it is back (a connection opened again: an info line), once each per outage, found by the
// first request, readiness check or listener reconnection (NoteOpen) that needs the database.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "annals/status.h"
#include "postgres/pg_connection.h"

namespace annals::pg {

class ConnectionPool {
 public:
  ConnectionPool(ConnectOptions options, uint32_t size, std::chrono::milliseconds checkout_timeout);

  // A checked-out connection; returns it to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&& other);  // returns the connection it held first
    ~Lease();
    Connection* operator->() { return connection_.get(); }
    Connection& operator*() { return *connection_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // kUnavailable when no connection frees up within the checkout timeout (or `timeout`, when
  // given), when a new connection cannot be opened, or after Close().
  Result<Lease> Checkout() { return Checkout(checkout_timeout_); }
  Result<Lease> Checkout(std::chrono::milliseconds timeout);
  // Gives `used` back (closed when it broke), then checks out a connection: the way to swap
  // a dead connection for a new one, which a pool of one could not do while holding it.
  Result<Lease> Renew(Lease used);
  // Closes idle connections and refuses later checkouts; leased ones close on return.
  void Close();
  // Every connection is leased and no other may open, while the database answered the last
  // connection opened: a checkout now waits for a request to finish. Load, not an outage.
  bool Saturated();

  using Clock = std::chrono::steady_clock;
  // The outcome of opening a connection, begun at `started`: the pool's own, or another of
  // the store's (its listener's). Logs the transitions only: an outage fails every request,
  // one line says it. A failure of an attempt begun before the last success is stale (that
  // success came later) and is ignored, so that one outage is not logged twice.
  void NoteOpen(const Status& opened, Clock::time_point started);

 private:
  void Return(std::unique_ptr<Connection> connection);

  const ConnectOptions options_;
  const uint32_t size_;
  const std::chrono::milliseconds checkout_timeout_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  uint32_t open_ = 0;  // idle + leased + being opened
  bool closed_ = false;
  std::mutex outage_mu_;            // orders NoteOpen's transitions
  std::atomic<bool> lost_{false};   // the last connection opened failed
  Clock::time_point last_reached_;  // when the attempt of the last success began
};

}  // namespace annals::pg
