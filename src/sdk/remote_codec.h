// The JSON of the REST API (docs/http-api.md) as the SDK's remote store reads and writes it:
// request bodies out, events, pages and problem documents in. Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "annals/event_store.h"
#include "annals/status.h"

namespace annals::sdk {

// The body of POST /streams/{stream}: expectedRevision and the events (JSON data inline,
// other content types base64).
std::string AppendBody(const AppendRequest& request);

// A Status from a non-2xx answer: the problem document's `type` picks the code (the table of
// docs/http-api.md), `detail` is the message, a wrong-revision problem carries its conflict.
// `stream` names the stream of the request, for the conflict's message.
Status StatusFromProblem(long http_status, std::string_view body, const std::string& stream);

// Parsers of the 2xx bodies. A body that does not parse is kInternal (the server and this
// client disagree about the protocol).
Result<AppendResult> ParseAppendResult(std::string body, bool idempotent);
Result<ReadStreamResult> ParseReadStream(std::string body);
Result<ReadAllResult> ParseReadAll(std::string body);
Result<ListStreamsResult> ParseListStreams(std::string body);
Result<StreamMetadataResult> ParseMetadata(std::string body);
// {"position": n} (deletes) and {"metadataRevision": r, "position": n} (metadata writes).
Result<Position> ParsePosition(std::string body);
Result<AppendResult> ParseMetadataWrite(std::string body);
// The `head` of GET /info.
Result<Position> ParseHead(std::string body);
// The members a consumer-group poll adds to each event.
struct PollExtras {
  std::string ack_id;
  uint32_t delivery_count = 1;
  bool replayed = false;
};
struct PolledEvent {
  RecordedEvent event;
  PollExtras extras;
};
// The body of POST /subscriptions/{group}/poll.
Result<std::vector<PolledEvent>> ParsePoll(std::string body);
// One event object of a page (GET /streams, GET /all, an SSE `data:` or a poll).
Result<RecordedEvent> ParseEvent(std::string body);

}  // namespace annals::sdk
