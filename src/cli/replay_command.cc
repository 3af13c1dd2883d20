// `annals replay`: replays a stream, a category or a filtered log, from a position, a revision
// or a time, to standard output as JSON Lines or to a webhook (one POST per event), from the
// local data directory (--data-dir) or a server (--server, through the SDK's remote store:
// the same EventStore code either way). A progress bar with rate and ETA goes to stderr when
// stdout is a terminal. The replay ends at the head as it was when it started.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include "annals/remote_store.h"
#include "cli/cli_common.h"
#include "cli/cli_input.h"
#include "cli/commands.h"
#include "cli/page_size.h"
#include "core/rfc3339.h"
#include "sdk/http_client.h"
#include "sdk/remote_codec.h"

namespace annals::cli {
namespace {

constexpr uint64_t kPageEvents = 1000;

struct ReplayOptions {
  EngineFlags engine;
  std::string server;
  std::string stream;
  std::string category;
  std::vector<std::string> types;
  std::vector<std::string> stream_prefixes;
  std::string from;
  std::string since;
  std::string webhook;
  bool include_system = false;
  bool no_progress = false;
};

// Where each event goes.
class Sink {
 public:
  explicit Sink(const std::string& webhook) {
    if (!webhook.empty()) client_ = std::make_unique<sdk::HttpClient>(webhook, "");
  }
  // `resume` is what --from takes to start again at this event (a revision or a position).
  void Send(const RecordedEvent& e, uint64_t resume) {
    const std::string json = EventJson(e);
    if (!client_) {
      std::cout << json << '\n';
      return;
    }
    // The receiver gets the same object as a JSON line; a failure stops the replay, which
    // can be resumed from the position printed.
    sdk::HttpReply r = client_->Do(
        "POST", "", json,
        {"Annals-Stream: " + e.stream, "Annals-Position: " + std::to_string(e.position.value)});
    if (r.status < 200 || r.status >= 300) {
      Fail(Status(StatusCode::kUnavailable,
                  fmt::format("webhook answered {} {} at {} revision {} (resume with --from {})",
                              r.status, r.error, e.stream, e.revision.value, resume)));
    }
  }

 private:
  std::unique_ptr<sdk::HttpClient> client_;
};

// "[#######.............]  35%  1234 events  2.1k/s  ETA 12s" redrawn in place on stderr.
class Progress {
 public:
  Progress(bool enabled, uint64_t start, uint64_t end)
      : enabled_(enabled),
        start_(start),
        end_(std::max(end, start + 1)),
        began_(std::chrono::steady_clock::now()) {}

  void Update(uint64_t at, uint64_t events, bool final = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double fraction =
        std::min(1.0, static_cast<double>(at - std::min(at, start_)) / (end_ - start_));
    const double seconds = std::chrono::duration<double>(now - began_).count();
    const double rate = seconds > 0 ? events / seconds : 0;
    const double eta = fraction > 0 ? seconds * (1 - fraction) / fraction : 0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::cerr << fmt::format("\r[{}{}] {:3.0f}%  {} events  {:.1f}k/s  ETA {:.0f}s   ",
                             std::string(filled, '#'), std::string(kWidth - filled, '.'),
                             fraction * 100, events, rate / 1000, eta);
    if (final) std::cerr << '\n';
  }

 private:
  bool enabled_;
  uint64_t start_, end_;
  std::chrono::steady_clock::time_point began_, last_;
};

// The remote store takes any 200 answer to GET /info as a server, and reads a head it cannot
// parse as 0: a URL that is not an Annals server would replay nothing and exit 0. Its answer
// must have the shape of Annals' (docs/http-api.md: a JSON object with a numeric "head").
void CheckIsAnnalsServer(const std::string& url) {
  sdk::HttpClient client(url, "");
  sdk::HttpReply reply = client.Do("GET", "/info");
  if (reply.status == 0) {
    Fail(Status(StatusCode::kUnavailable, "server unreachable: " + reply.error));
  }
  Result<Position> head = sdk::ParseHead(std::move(reply.body));
  if (reply.status != 200 || !head.ok()) {
    Fail(Status(StatusCode::kInternal,
                fmt::format("unexpected answer from the server: GET {}/info answered {} {}, not "
                            "an Annals server's information (a JSON object with a \"head\")",
                            client.base_url(), reply.status,
                            reply.content_type.empty() ? "with no content type"
                                                       : "of type " + reply.content_type)));
  }
}

std::unique_ptr<EventStore> OpenStore(const ReplayOptions& o) {
  if (o.server.empty()) return OpenEngineOrFail(o.engine);
  RemoteOptions remote;
  remote.url = o.server;
  auto store = ConnectRemote(remote);
  if (!store.ok()) Fail(store.status());
  CheckIsAnnalsServer(o.server);
  return std::move(store).value();
}

std::optional<Timestamp> Since(const ReplayOptions& o) {
  if (o.since.empty()) return std::nullopt;
  auto t = ParseRfc3339(o.since);
  if (!t) FailUsage("--since must be an RFC 3339 UTC time, e.g. 2026-11-27T07:32:00Z");
  return t;
}

void ReplayStream(EventStore& store, const ReplayOptions& o, Sink& sink, bool tty) {
  Result<std::optional<Revision>> from = ParseStreamFromArg(o.from.empty() ? "start" : o.from);
  if (!from.ok()) Fail(from.status());
  const std::optional<Timestamp> since = Since(o);
  ReadStreamRequest request;
  request.stream = o.stream;
  request.from = from->value_or(Revision{0});
  request.max_count = kPageEvents;
  Result<StreamInfo> info = store.GetStreamInfo(o.stream);
  if (!info.ok()) Fail(info.status());
  // From the end: what follows the stream's last event, which a replay never reaches (it
  // stops at the stream as it was when it started). `request.from` would read nullopt as
  // the start.
  if (!from->has_value()) return;
  const uint64_t last = info->last_revision ? info->last_revision->value : 0;
  Progress progress(tty, request.from->value, last + 1);
  uint64_t sent = 0;
  PageSize size(kPageEvents);
  while (true) {
    request.max_count = size.Next(kPageEvents);
    Result<ReadStreamResult> page = store.ReadStream(request);
    if (!page.ok() && size.RetryAfter(page.status(), request.max_count)) continue;
    if (!page.ok()) Fail(size.Verdict(page.status()));
    size.Read();
    for (const RecordedEvent& e : page->events) {
      if (e.revision.value > last) break;  // the stream as it was at the start
      if (since && e.created < *since) continue;
      sink.Send(e, e.revision.value);
      progress.Update(e.revision.value + 1, ++sent);
    }
    if (!page->next || page->events.empty() || page->next->value > last) break;
    request.from = page->next;
  }
  progress.Update(last + 1, sent, /*final=*/true);
}

void ReplayLog(EventStore& store, const ReplayOptions& o, Sink& sink, bool tty) {
  Result<Position> from = ParseAllFromArg(o.from.empty() ? "start" : o.from);
  if (!from.ok()) Fail(from.status());
  const std::optional<Timestamp> since = Since(o);
  ReadAllRequest request;
  request.from = *from;
  request.max_count = kPageEvents;
  request.filter.category = o.category;
  request.filter.event_types = o.types;
  request.filter.stream_prefixes = o.stream_prefixes;
  request.filter.exclude_system_events = !o.include_system;
  // Positions are byte offsets of the log: their fraction of the way to the head is the
  // progress, whatever the filter keeps.
  const Position head = store.Head();
  Progress progress(tty, from->value, head.value);
  uint64_t sent = 0;
  PageSize size(kPageEvents);
  while (request.from < head) {
    request.max_count = size.Next(kPageEvents);
    Result<ReadAllResult> page = store.ReadAll(request);
    if (!page.ok() && size.RetryAfter(page.status(), request.max_count)) continue;
    if (!page.ok()) Fail(size.Verdict(page.status()));
    size.Read();
    for (const RecordedEvent& e : page->events) {
      if (e.position >= head) break;
      if (since && e.created < *since) continue;
      sink.Send(e, e.position.value);
      progress.Update(e.position.value, ++sent);
    }
    if (page->end_of_log || page->next == request.from) break;
    request.from = page->next;
    progress.Update(request.from.value, sent);
  }
  progress.Update(head.value, sent, /*final=*/true);
}

void RunReplay(const ReplayOptions& o) {
  if (!o.stream.empty() &&
      (!o.category.empty() || !o.types.empty() || !o.stream_prefixes.empty())) {
    FailUsage("--stream replays one stream: --category, --type and --stream-prefix filter the log");
  }
  const bool tty = !o.no_progress && ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<EventStore> store = OpenStore(o);
  Sink sink(o.webhook);
  if (!o.stream.empty()) {
    ReplayStream(*store, o, sink, tty);
  } else {
    ReplayLog(*store, o, sink, tty);
  }
  std::cout.flush();
}

}  // namespace

void AddReplayCommand(CLI::App& app) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* command = app.add_subcommand(
      "replay",
      "Replay a stream, a category or a filtered log to stdout (JSON Lines) or a webhook");
  AddEngineFlags(command, &o->engine);
  command
      ->add_option("--server", o->server,
                   "Read from this server (http://host:port) instead of --data-dir")
      ->check(NonEmpty());
  command->add_option("--stream", o->stream, "Replay this stream")->check(NonEmpty());
  command->add_option("--category", o->category, "Replay the streams of this category")
      ->check(NonEmpty());
  command->add_option("--type", o->types, "Only events of this type (repeatable: any of)")
      ->check(NonEmpty());
  command
      ->add_option("--stream-prefix", o->stream_prefixes,
                   "Only streams starting with this (repeatable: any of)")
      ->check(NonEmpty());
  command
      ->add_option("--from", o->from,
                   "Start here: start, end (nothing yet: a replay stops at the end it "
                   "found), a revision (--stream) or a position (inclusive)")
      ->check(NonEmpty());
  command->add_option("--since", o->since, "Only events created at or after this RFC 3339 time")
      ->check(NonEmpty());
  command
      ->add_option("--webhook", o->webhook,
                   "POST each event (its JSON object) to this URL instead of printing it")
      ->check(NonEmpty());
  command->add_flag("--include-system", o->include_system,
                    "Log replays: include system events ($-streams and $-types)");
  command->add_flag("--no-progress", o->no_progress, "No progress bar even on a terminal");
  command->callback([o] { RunReplay(*o); });
}

}  // namespace annals::cli
