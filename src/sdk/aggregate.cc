#include "annals/aggregate.h"

#include <thread>

namespace annals {

Result<std::optional<Revision>> LoadStream(EventStore& store, const std::string& stream,
                                           const std::function<void(const RecordedEvent&)>& apply) {
  ReadStreamRequest request{.stream = stream, .from = Revision{0}};
  std::optional<Revision> last;
  while (true) {
    Result<ReadStreamResult> page = store.ReadStream(request);
    if (!page.ok()) {
      // A stream never written, or soft-deleted: an empty state, appended to with no_stream.
      if (page.status().code() == StatusCode::kNotFound) return std::optional<Revision>();
      return page.status();
    }
    for (const RecordedEvent& e : page->events) apply(e);
    last = page->last_revision;
    if (!page->next || page->events.empty()) return last;
    request.from = page->next;
  }
}

Result<CommandOutcome> RunCommand(
    EventStore& store, const std::string& stream, const std::function<void()>& reset,
    const std::function<void(const RecordedEvent&)>& apply,
    const std::function<Result<std::vector<ProposedEvent>>(std::optional<Revision>)>& decide,
    const RetryPolicy& policy) {
  std::chrono::milliseconds backoff = policy.backoff;
  Status last_conflict;
  for (int attempt = 1; attempt <= std::max(1, policy.max_attempts); ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
    reset();
    Result<std::optional<Revision>> version = LoadStream(store, stream, apply);
    if (!version.ok()) return version.status();
    Result<std::vector<ProposedEvent>> events = decide(*version);
    if (!events.ok()) return events.status();
    CommandOutcome outcome;
    outcome.version = *version;
    outcome.attempts = attempt;
    if (events->empty()) return outcome;
    AppendRequest request{
        .stream = stream,
        .expected = *version ? ExpectedRevision::Exact(**version) : ExpectedRevision::NoStream(),
        .events = std::move(events).value()};
    Result<AppendResult> appended = store.Append(request);
    if (appended.ok()) {
      outcome.append = *appended;
      return outcome;
    }
    // Only a lost race is retried: the state is reloaded and the decision made again.
    if (appended.status().code() != StatusCode::kWrongExpectedRevision) return appended.status();
    last_conflict = appended.status();
  }
  return last_conflict;
}

}  // namespace annals
