// A read's max_bytes (ReadStreamRequest / ReadAllRequest): the payload a page has taken so far.
// The in-process stores count it the same way; the PostgreSQL store counts it in SQL
// (src/postgres/reads.cc) with the same rule.
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
