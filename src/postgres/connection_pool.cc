#include "postgres/connection_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace annals::pg {

ConnectionPool::ConnectionPool(ConnectOptions options, uint32_t size,
                               std::chrono::milliseconds checkout_timeout)
    : options_(std::move(options)),
      size_(std::max<uint32_t>(1, size)),
      checkout_timeout_(checkout_timeout) {}

ConnectionPool::Lease::~Lease() {
  if (connection_) pool_->Return(std::move(connection_));
}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) {
  if (this != &other) {
    if (connection_) pool_->Return(std::move(connection_));
    pool_ = other.pool_;
    connection_ = std::move(other.connection_);
  }
  return *this;
}

Result<ConnectionPool::Lease> ConnectionPool::Renew(Lease used) {
  { Lease returned = std::move(used); }
  return Checkout();
}

Result<ConnectionPool::Lease> ConnectionPool::Checkout(std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<Connection>> ended;  // closed after the lock is released
  std::unique_lock lock(mu_);
  const bool available =
      freed_.wait_for(lock, timeout, [&] { return closed_ || !idle_.empty() || open_ < size_; });
  if (closed_) return Status(StatusCode::kUnavailable, "postgres store is closed");
  if (!available) {
    return Status(StatusCode::kUnavailable, "postgres: no free connection within " +
                                                std::to_string(timeout.count()) +
                                                " ms (pool size " + std::to_string(size_) + ")");
  }
  while (!idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->StillOpen()) return Lease(this, std::move(connection));
    // The server ended it while idle: after a database restart, every idle connection. They
    // all go now, so no request after the restart is handed one, and a new one takes the slot.
    ended.push_back(std::move(connection));
    --open_;
  }
  if (ended.size() > 1) freed_.notify_all();  // slots for other waiters too
  // Reserve the slot while connecting without the lock.
  ++open_;
  lock.unlock();
  const Clock::time_point started = Clock::now();
  Result<std::unique_ptr<Connection>> opened = Connection::Open(options_);
  NoteOpen(opened.status(), started);
  if (!opened.ok()) {
    lock.lock();
    --open_;
    freed_.notify_one();
    return opened.status();
  }
  return Lease(this, std::move(opened).value());
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  // A connection left inside a transaction (a request that failed half-way) is rolled back;
  // if that fails too, it is closed.
  connection->RollbackIfOpen();
  if (connection->broken()) {
    // One session ended (pg_terminate_backend, an idle timeout, a killed backend) is not an
    // outage: the next checkout opens another, and only if that fails is the database gone.
    spdlog::debug("postgres: a pooled connection broke: {}", connection->ErrorMessage());
  }
  std::unique_ptr<Connection> discard;
  {
    std::lock_guard lock(mu_);
    if (closed_ || connection->broken() || !connection->Idle()) {
      discard = std::move(connection);
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  freed_.notify_one();
  // `discard` closes here, outside the lock.
}

void ConnectionPool::Close() {
  std::vector<std::unique_ptr<Connection>> idle;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    idle.swap(idle_);
    open_ -= static_cast<uint32_t>(idle.size());
  }
  freed_.notify_all();
}

bool ConnectionPool::Saturated() {
  std::lock_guard lock(mu_);
  return !closed_ && !lost_ && idle_.empty() && open_ >= size_;
}

void ConnectionPool::NoteOpen(const Status& opened, Clock::time_point started) {
  std::lock_guard lock(outage_mu_);
  if (opened.ok()) {
    last_reached_ = std::max(last_reached_, started);
    if (lost_.exchange(false)) spdlog::info("postgres: the database is available again");
    return;
  }
  if (started < last_reached_ || lost_.exchange(true)) return;
  spdlog::warn("postgres: the database is unavailable, requests fail until it is back: {}",
               opened.message());
}

}  // namespace annals::pg
