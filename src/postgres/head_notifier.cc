#include "postgres/head_notifier.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace annals::pg {
namespace {

constexpr std::chrono::milliseconds kReconnectDelay{1000};

}  // namespace

HeadNotifier::HeadNotifier(ConnectOptions options, Position initial,
                           std::chrono::milliseconds poll_interval, OpenObserver on_open)
    : options_(std::move(options)),
      poll_interval_(poll_interval),
      on_open_(std::move(on_open)),
      head_(initial) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  listener_ = std::thread([this] { Listen(); });
}

HeadNotifier::~HeadNotifier() {
  Close();
  if (wake_fd_ >= 0) close(wake_fd_);
}

Position HeadNotifier::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

void HeadNotifier::Advance(Position head) {
  std::vector<CommitCallback> due;
  {
    std::lock_guard lock(mu_);
    if (closed_ || head <= head_) return;
    head_ = head;
    for (auto it = watches_.begin(); it != watches_.end();) {
      if (head > it->second.after) {
        due.push_back(std::move(it->second.callback));
        it = watches_.erase(it);
      } else {
        ++it;
      }
    }
  }
  moved_.notify_all();
  for (CommitCallback& callback : due) callback(head);
}

Position HeadNotifier::Wait(Position after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  moved_.wait_for(lock, timeout, [&] { return closed_ || head_ > after; });
  return head_;
}

uint64_t HeadNotifier::Watch(Position after, CommitCallback callback) {
  std::unique_lock lock(mu_);
  const uint64_t id = next_watch_id_++;
  if (closed_ || head_ > after) {
    const Position head = head_;
    lock.unlock();
    callback(head);
    return id;
  }
  watches_.emplace(id, PendingWatch{after, std::move(callback)});
  return id;
}

void HeadNotifier::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  watches_.erase(id);
}

void HeadNotifier::Close() {
  std::map<uint64_t, PendingWatch> pending;
  Position head;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    pending.swap(watches_);
    head = head_;
  }
  moved_.notify_all();
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof(one));
  }
  if (listener_.joinable()) listener_.join();
  for (auto& [id, watch] : pending) watch.callback(head);
}

void HeadNotifier::Sleep(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  moved_.wait_for(lock, timeout, [&] { return closed_; });
}

void HeadNotifier::Listen() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
    }
    const auto started = std::chrono::steady_clock::now();
    Result<std::unique_ptr<Connection>> connection = Connection::Open(options_);
    if (on_open_) on_open_(connection.status(), started);
    if (connection.ok()) ListenOn(**connection);
    // Lost or never connected (e.g. the database restarting): the store keeps working. Retry
    // soon whatever the poll interval: until the listener is back, other nodes' commits wake
    // no waiter or watch here (docs/postgres.md, "Database restarts").
    Sleep(std::min(poll_interval_, kReconnectDelay));
  }
}

void HeadNotifier::ListenOn(Connection& connection) {
  if (!connection.ExecScript("LISTEN " + std::string(kHeadChannel)).ok()) return;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
    }
    // Read the head after LISTEN (so no commit falls between the two) and after every
    // wake-up, whatever woke us.
    Result<Rows> head = connection.Exec("SELECT next_position FROM log_head");
    if (!head.ok() || head->size() != 1) return;
    Advance(Position{static_cast<uint64_t>(head->Int64(0, 0))});
    // A notification that arrived while the SELECT ran is queued inside libpq, where poll()
    // cannot see it; its commit may be newer than the SELECT's snapshot: read again.
    bool queued = false;
    while (PGnotify* notify = PQnotifies(connection.raw())) {
      queued = true;
      PQfreemem(notify);
    }
    if (queued) continue;

    pollfd fds[2] = {{PQsocket(connection.raw()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(poll_interval_.count()));
    if (ready < 0 && errno != EINTR) return;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP))) {
      if (PQconsumeInput(connection.raw()) == 0) return;  // the connection broke
      while (PGnotify* notify = PQnotifies(connection.raw())) PQfreemem(notify);
    }
  }
}

}  // namespace annals::pg
