// Live notification for the PostgreSQL store: the last head this process knows, waiters and
// watches on it, and a listener thread that learns of other writers' commits.
//
// The listener holds its own connection with LISTEN on kHeadChannel; every writing
// transaction NOTIFYs that channel, and PostgreSQL delivers a notification only after its
// transaction commits. On a notification (several are coalesced), and at least every poll
// interval as a safety net for a lost notification or connection, the listener reads the
// committed head from log_head. The store's own commits raise the head at once (Advance).
// A lost connection (a database restart) is opened again within a second, LISTEN included,
// and the head read then covers whatever committed meanwhile. Each attempt's outcome goes to
// `on_open`, so that the store logs an outage within a second even when no request notices it.
//
// The head only grows, and every value it takes was read from a committed log_head or is
// just past a committed append, so everything before it is readable.
//
// Thread safety: every method may be called from any thread. Callbacks run outside the lock,
// on the thread that raised the head (an appender or the listener) or on Close's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>

#include "annals/event_store.h"
#include "postgres/pg_connection.h"

namespace annals::pg {

inline constexpr std::string_view kHeadChannel = "annals_head";

class HeadNotifier {
 public:
  // Told whether each of the listener's connections opened, and when the attempt began.
  using OpenObserver =
      std::function<void(const Status& opened, std::chrono::steady_clock::time_point started)>;
  HeadNotifier(ConnectOptions options, Position initial, std::chrono::milliseconds poll_interval,
               OpenObserver on_open);
  ~HeadNotifier();  // Close()

  Position head() const;
  // Raises the head to `head` if it is higher, waking waiters and running the watches that
  // became due.
  void Advance(Position head);
  // Blocks until head() > after, the timeout, or Close(); returns head().
  Position Wait(Position after, std::chrono::milliseconds timeout);
  // Runs `callback` once when head() > after (inline if it already is) or at Close().
  uint64_t Watch(Position after, CommitCallback callback);
  void Cancel(uint64_t id);
  // Stops the listener, releases waiters and runs the pending watches with the unchanged
  // head. Idempotent.
  void Close();

 private:
  struct PendingWatch {
    Position after;
    CommitCallback callback;
  };
  void Listen();
  // One listening session on a fresh connection; returns when it breaks or at Close().
  void ListenOn(Connection& connection);
  // Sleeps up to `timeout`, waking early at Close().
  void Sleep(std::chrono::milliseconds timeout);

  const ConnectOptions options_;
  const std::chrono::milliseconds poll_interval_;
  const OpenObserver on_open_;
  mutable std::mutex mu_;
  std::condition_variable moved_;
  Position head_;
  bool closed_ = false;
  std::map<uint64_t, PendingWatch> watches_;
  uint64_t next_watch_id_ = 1;
  int wake_fd_ = -1;  // an eventfd that interrupts the listener's poll at Close()
  std::thread listener_;
};

}  // namespace annals::pg
