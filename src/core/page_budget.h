// A read's max_bytes (ReadStreamRequest / ReadAllRequest): the payload a page has taken so far.
// The engine and the memory store count it from their events; the PostgreSQL store from the
// payload sizes its statements return (src/postgres/reads.cc, PageFill), by the same rule.
#pragma once

#include <cstdint>

#include "annals/types.h"

namespace annals {

struct PageBudget {
  uint64_t max_bytes = 0;  // 0: no bound
  uint64_t taken = 0;
  // Whether the page is full: the next event would start past the budget.
  bool Spent() const { return max_bytes != 0 && taken >= max_bytes; }
  void Take(const RecordedEvent& event) { taken += event.data.size() + event.metadata.size(); }
};

}  // namespace annals
