// The remote EventStore: each call is one REST request (docs/http-api.md) on a kept-alive
// connection; answers and problem documents are mapped back by remote_codec.
#include "annals/remote_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "annals/limits.h"
#include "core/percent_encoding.h"
#include "core/stream_metadata_codec.h"
#include "core/threaded_head_watches.h"
#include "sdk/http_client.h"
#include "sdk/remote_codec.h"

namespace annals {
namespace {

using sdk::HttpReply;

// The server refuses larger pages (`http.max_page_size`, 10000 by default); a smaller page is
// still a correct answer, since every read returns where to continue.
constexpr uint64_t kMaxPage = 10000;
// A watch re-checks whether it was cancelled at least this often.
constexpr auto kWatchSlice = std::chrono::milliseconds(500);
constexpr int kAsyncWorkers = 4;

std::string StreamPath(const std::string& stream) {
  return "/streams/" + PercentEncodeSegment(stream);
}

// An empty name has no URL (`/streams/` is another route): refused here as the engine would.
Status CheckStream(const std::string& stream) {
  if (!stream.empty()) return Status::Ok();
  return Status(StatusCode::kInvalidArgument, "the stream name is empty");
}

// JSON data and metadata travel inline in the request body, so text that is not JSON cannot be
// sent at all: such a request gets the answer the engine's own validation gives (which, e.g.,
// reports an oversized event as kTooLarge before looking at its JSON).
Status CheckSendable(const AppendRequest& request) {
  for (const ProposedEvent& e : request.events) {
    const bool data_ok =
        e.content_type != kContentTypeJson || e.data.empty() || IsValidJson(e.data);
    if (!data_ok || (!e.metadata.empty() && !IsValidJson(e.metadata))) {
      Status s = ValidateAppend(request, Limits());
      return s.ok() ? Status(StatusCode::kInvalidArgument, "event data is not JSON") : s;
    }
  }
  return Status::Ok();
}

Status Unreachable(const HttpReply& reply) {
  return Status(StatusCode::kUnavailable, "server unreachable: " + reply.error);
}

class RemoteStore final : public EventStore {
 public:
  explicit RemoteStore(const RemoteOptions& options)
      : client_(options.url, options.authorization, options.timeout, options.connect_timeout) {}

  ~RemoteStore() override {
    watches_.Close();  // before the client its waits use
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  Status Ping() {
    HttpReply r = client_.Do("GET", "/info");
    if (r.status == 0) return Unreachable(r);
    if (r.status != 200) return sdk::StatusFromProblem(r.status, r.body, "");
    return Status::Ok();
  }

  Result<AppendResult> Append(const AppendRequest& request) override {
    if (request.system_writer) {
      return Status(StatusCode::kPermissionDenied,
                    "system_writer appends are not served over the REST API");
    }
    ANNALS_RETURN_IF_ERROR(CheckStream(request.stream));
    ANNALS_RETURN_IF_ERROR(CheckSendable(request));
    HttpReply r = client_.Do("POST", StreamPath(request.stream), sdk::AppendBody(request));
    if (r.status == 201 || r.status == 200) {
      return sdk::ParseAppendResult(std::move(r.body), r.status == 200);
    }
    return Failure(r, request.stream);
  }

  void AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done) override {
    Submit([this, request = std::move(request), done = std::move(done)] { done(Append(request)); });
  }

  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override {
    ANNALS_RETURN_IF_ERROR(CheckStream(request.stream));
    std::string path = StreamPath(request.stream) +
                       "?limit=" + std::to_string(std::min(request.max_count, kMaxPage));
    if (request.direction == Direction::kBackwards) path += "&direction=backwards";
    if (request.from) path += "&from=" + std::to_string(request.from->value);
    HttpReply r = client_.Do("GET", path);
    if (r.status == 200) return sdk::ParseReadStream(std::move(r.body));
    return Failure(r, request.stream);
  }

  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override {
    std::string path = "/all?limit=" + std::to_string(std::min(request.max_count, kMaxPage));
    if (request.direction == Direction::kBackwards) {
      path += "&direction=backwards&from=";
      path += request.from == Position::End() ? "end" : std::to_string(request.from.value);
    } else {
      path += "&from=" + std::to_string(request.from.value);
    }
    path += FilterQuery(request.filter);
    HttpReply r = client_.Do("GET", path);
    if (r.status == 200) return sdk::ParseReadAll(std::move(r.body));
    return Failure(r, "");
  }

  Result<StreamInfo> GetStreamInfo(const std::string& stream) override {
    ANNALS_RETURN_IF_ERROR(CheckStream(stream));
    // The catalog lists names in byte order, so the first name with the prefix `stream` is
    // `stream` itself when it exists.
    Result<ListStreamsResult> page =
        ListStreams({.prefix = stream, .after = "", .limit = 1, .include_system = true});
    if (!page.ok()) return page.status();
    if (page->streams.empty() || page->streams[0].name != stream) {
      return Status(StatusCode::kNotFound, "stream '" + stream + "' not found");
    }
    return std::move(page->streams[0]);
  }

  Result<ListStreamsResult> ListStreams(const ListStreamsRequest& request) override {
    std::string path = "/streams?limit=" + std::to_string(std::min(request.limit, kMaxPage));
    if (!request.prefix.empty()) path += "&prefix=" + PercentEncodeSegment(request.prefix);
    if (!request.after.empty()) path += "&after=" + PercentEncodeSegment(request.after);
    if (request.include_system) path += "&includeSystem=true";
    HttpReply r = client_.Do("GET", path);
    if (r.status == 200) return sdk::ParseListStreams(std::move(r.body));
    return Failure(r, "");
  }

  Result<StreamMetadataResult> GetStreamMetadata(const std::string& stream) override {
    ANNALS_RETURN_IF_ERROR(CheckStream(stream));
    HttpReply r = client_.Do("GET", StreamPath(stream) + "/metadata");
    if (r.status == 200) return sdk::ParseMetadata(std::move(r.body));
    return Failure(r, stream);
  }

  Result<AppendResult> SetStreamMetadata(const std::string& stream, ExpectedRevision expected,
                                         const StreamMetadata& metadata) override {
    ANNALS_RETURN_IF_ERROR(CheckStream(stream));
    HttpReply r =
        client_.Do("PUT", StreamPath(stream) + "/metadata", StreamMetadataToJson(metadata),
                   {"Annals-Expected-Revision: " + expected.ToString()});
    if (r.status == 200 || r.status == 201) return sdk::ParseMetadataWrite(std::move(r.body));
    return Failure(r, MetadataStreamOf(stream));
  }

  Result<DeleteResult> DeleteStream(const std::string& stream, ExpectedRevision expected,
                                    DeleteMode mode) override {
    ANNALS_RETURN_IF_ERROR(CheckStream(stream));
    std::string path = StreamPath(stream);
    if (mode == DeleteMode::kTombstone) path += "?tombstone=true";
    HttpReply r =
        client_.Do("DELETE", path, {}, {"Annals-Expected-Revision: " + expected.ToString()});
    if (r.status == 200) {
      Result<Position> p = sdk::ParsePosition(std::move(r.body));
      if (!p.ok()) return p.status();
      return DeleteResult{*p};
    }
    return Failure(r, stream);
  }

  Position Head() const override {
    HttpReply r = client_.Do("GET", "/info");
    if (r.status != 200) return Position::Start();
    Result<Position> head = sdk::ParseHead(std::move(r.body));
    return head.ok() ? *head : Position::Start();
  }

  Position WaitForHead(Position after, std::chrono::milliseconds timeout) override {
    const Position head = Head();
    if (head > after) return head;
    // A subscription to `$all` from `after` sends its first event as soon as one commits at
    // or past `after`: then the head is past it. Events carry an `id:` line, the
    // `caught-up` marker and heartbeats do not.
    std::string seen;
    client_.Stream("/all?from=" + std::to_string(after.value), {"Accept: text/event-stream"},
                   timeout, [&](std::string_view chunk) {
                     seen.append(chunk);
                     return seen.find("\nid:") == std::string::npos && seen.rfind("id:", 0) != 0;
                   });
    return Head();
  }

  uint64_t WatchHead(Position after, CommitCallback callback) override {
    return watches_.Watch(after, std::move(callback));
  }

  void CancelHeadWatch(uint64_t id) override { watches_.Cancel(id); }

 private:
  static std::string FilterQuery(const EventFilter& f) {
    std::string q;
    for (const std::string& p : f.stream_prefixes) q += "&streamPrefix=" + PercentEncodeSegment(p);
    if (!f.category.empty()) q += "&category=" + PercentEncodeSegment(f.category);
    for (const std::string& t : f.event_types) q += "&type=" + PercentEncodeSegment(t);
    for (const std::string& t : f.type_prefixes) q += "&typePrefix=" + PercentEncodeSegment(t);
    if (!f.type_regex.empty()) q += "&typeRegex=" + PercentEncodeSegment(f.type_regex);
    if (!f.stream_regex.empty()) q += "&streamRegex=" + PercentEncodeSegment(f.stream_regex);
    if (f.exclude_system_events) q += "&excludeSystem=true";
    return q;
  }

  static Status Failure(const HttpReply& r, const std::string& stream) {
    if (r.status == 0) return Unreachable(r);
    return sdk::StatusFromProblem(r.status, r.body, stream);
  }

  // AppendAsync runs on a few worker threads, started on first use.
  void Submit(std::function<void()> job) {
    std::lock_guard lock(mu_);
    if (workers_.empty()) {
      for (int i = 0; i < kAsyncWorkers; ++i) workers_.emplace_back([this] { Work(); });
    }
    jobs_.push_back(std::move(job));
    work_cv_.notify_one();
  }

  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      work_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every job ran
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  mutable sdk::HttpClient client_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  bool stopping_ = false;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  ThreadedHeadWatches watches_{[this](Position after, std::chrono::milliseconds timeout) {
                                 return WaitForHead(after, timeout);
                               },
                               kWatchSlice};
};

}  // namespace

Result<std::unique_ptr<EventStore>> ConnectRemote(const RemoteOptions& options) {
  auto store = std::make_unique<RemoteStore>(options);
  ANNALS_RETURN_IF_ERROR(store->Ping());
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace annals
