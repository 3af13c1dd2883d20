// The aggregate helper: load a stream, fold it into a state, decide, append with the expected
// revision of what was loaded; on a conflict (another writer appended in between) reload and
// decide again, a bounded number of times.
//
//   struct Visit { bool checked_out = false; ... };
//   auto outcome = annals::Execute<Visit>(
//       store, "visit-42",
//       [](Visit& v, const annals::RecordedEvent& e) { ... },               // fold
//       [&](const Visit& v, std::optional<annals::Revision> version)
//           -> annals::Result<std::vector<annals::ProposedEvent>> {           // decide
//         if (v.checked_out) return annals::Status(kInvalidArgument, "already checked out");
//         return std::vector{annals::ToProposed(PatientCheckedOut{...}, id)};
//       });
//
// `decide` may return no events (nothing to do: nothing is appended) or a Status (the command
// is refused; returned as is). Give the events ids derived from the command id
// (DeriveEventId) and a repeated command is answered by the store as idempotent.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "annals/event_store.h"

namespace annals {

struct RetryPolicy {
  int max_attempts = 5;                  // loads+decisions in all; the last conflict is returned
  std::chrono::milliseconds backoff{2};  // before the 2nd attempt; doubles after each conflict
};

struct CommandOutcome {
  std::optional<AppendResult> append;  // nullopt when decide returned no events
  std::optional<Revision> version;     // the stream's last revision when the decision was made
  int attempts = 0;
};

// The type-erased core of Execute: `reset` clears the state, `apply` folds one event into it.
Result<CommandOutcome> RunCommand(
    EventStore& store, const std::string& stream, const std::function<void()>& reset,
    const std::function<void(const RecordedEvent&)>& apply,
    const std::function<Result<std::vector<ProposedEvent>>(std::optional<Revision>)>& decide,
    const RetryPolicy& policy);

// Reads the whole stream into `apply`; returns its last revision (nullopt: no stream, or a
// soft-deleted one, which an append with no_stream recreates).
Result<std::optional<Revision>> LoadStream(EventStore& store, const std::string& stream,
                                           const std::function<void(const RecordedEvent&)>& apply);

// Loads `stream` folded from State{} with `fold(State&, const RecordedEvent&)`.
template <typename State, typename Fold>
Result<std::pair<State, std::optional<Revision>>> Load(EventStore& store, const std::string& stream,
                                                       Fold fold) {
  State state{};
  auto version = LoadStream(store, stream, [&](const RecordedEvent& e) { fold(state, e); });
  if (!version.ok()) return version.status();
  return std::pair<State, std::optional<Revision>>{std::move(state), *version};
}

// `decide(const State&, std::optional<Revision> version)` returns the events to append, in a
// Result; see the top of this file.
template <typename State, typename Fold, typename Decide>
Result<CommandOutcome> Execute(EventStore& store, const std::string& stream, Fold fold,
                               Decide decide, const RetryPolicy& policy = {}) {
  State state{};
  return RunCommand(
      store, stream, [&] { state = State{}; }, [&](const RecordedEvent& e) { fold(state, e); },
      [&](std::optional<Revision> version) -> Result<std::vector<ProposedEvent>> {
        return decide(static_cast<const State&>(state), version);
      },
      policy);
}

}  // namespace annals
