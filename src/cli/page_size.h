// The page size of a command that reads the store page by page and must print what comes
// before a damaged record (read_command.cc, replay_command.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "annals/status.h"

namespace annals::cli {

// The store refuses a whole page when one of its records is damaged, but docs/cli.md
// promises the events before the damage on stdout (`read` and `replay`). After such a refusal the
// same events are asked for again one at a time, which prints them and stops at the damaged one;
// pages stay large otherwise.
class PageSize {
 public:
  explicit PageSize(uint64_t page_events) : page_events_(page_events) {}

  uint64_t Next(uint64_t remaining) const {
    return single_ > 0 ? 1 : std::min(remaining, page_events_);
  }
  // After a read of `page_size` events failed with `status`: true to retry one event at a
  // time (once per damage, and only when the page had room for events before the damage),
  // false when the read is over, and Verdict() says why.
  bool RetryAfter(const Status& status, uint64_t page_size) {
    if (damage_ || status.code() != StatusCode::kCorruption || page_size <= 1) return false;
    damage_ = status;
    single_ = page_size;
    return true;
  }
  // The failure to report: the damage the page met. A one-event read that starts at the
  // damaged record says only that its position is not the start of an event.
  const Status& Verdict(const Status& status) const { return damage_ ? *damage_ : status; }
  void Read() {
    if (single_ > 0) --single_;
  }

 private:
  uint64_t page_events_;
  uint64_t single_ = 0;           // events still to read one at a time
  std::optional<Status> damage_;  // what the page that failed met
};

}  // namespace annals::cli
