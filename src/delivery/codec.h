// The durable JSON forms of delivery state: definitions in the config stream, checkpoints and
// parked messages (docs/delivery.md, "Durable state"), and the JSON of a definition as the
// REST API shows it. Every decoder is total: malformed input is a kInvalidArgument Status.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "annals/status.h"
#include "delivery/definitions.h"

namespace annals::delivery {

using Json = nlohmann::json;

// Stream and event type names of the durable state.
inline constexpr std::string_view kConfigStream = "$annals-delivery-config";
inline constexpr std::string_view kCheckpointType = "SubscriptionCheckpoint";
inline constexpr std::string_view kParkedType = "ParkedEvent";
inline constexpr std::string_view kParkedReplayedType = "ParkedReplayed";
inline constexpr std::string_view kParkedTruncatedType = "ParkedTruncated";
// The prefixes of the cursors' own streams: `<prefix><name>-checkpoint` and `-parked`.
inline constexpr std::string_view kGroupStatePrefix = "$persistentsubscription-";
inline constexpr std::string_view kWebhookStatePrefix = "$webhook-";
inline constexpr std::string_view kRelayStatePrefix = "$relay-";

// Whether `stream` holds delivery's own state (the config stream, a cursor's checkpoints or
// parked messages). `$all`-based sources never deliver such events: cursors would be fed each
// other's checkpoints, each delivery causing the next checkpoint, for ever.
bool IsDeliveryStateStream(std::string_view stream);

// `url` with its user information (`user:password@`) shown as `***@`, for status documents.
std::string RedactUserinfo(const std::string& url);
// `text` with every occurrence of `url` replaced by RedactUserinfo(url), for messages that
// quote the URL.
std::string WithoutUserinfo(std::string text, const std::string& url);

// The JSON of a source: {"stream": s} or filter members {"category", "eventTypes",
// "streamPrefixes", "typePrefixes", "typeRegex", "excludeSystem"} ({} is all of `$all`).
// Accepted on input also: "eventType" (one type) and "types" (alias of eventTypes).
Json SourceToJson(const Source& source);
Result<Source> SourceFromJson(const Json& j);

// "start", "end", a number (revision for a stream source, position otherwise), or
// {"time": "<RFC 3339>"} / {"position": n} / {"revision": n}.
Json StartToJson(const StartAt& start);
Result<StartAt> StartFromJson(const Json& j);

// Strict readers of request bodies (kInvalidArgument naming the member): `j` has no member
// outside `keys` (`what` names the object); an optional member of the right type.
Status OnlyKeys(const Json& j, std::initializer_list<std::string_view> keys, std::string_view what);
Status OptString(const Json& j, const char* key, std::string* out);
Status OptUint(const Json& j, const char* key, uint64_t* out);
Status OptBool(const Json& j, const char* key, bool* out);

// Every member optional on input (defaults of GroupSettings); unknown members are refused.
Json SettingsToJson(const GroupSettings& settings);
Status SettingsFromJson(const Json& j, GroupSettings* settings);

// {"name","source","from","settings","generation","startCursor","paused"}.
Json DefinitionToJson(const GroupDefinition& def);
Result<GroupDefinition> DefinitionFromJson(const Json& j);

// Durable checkpoint event data: {"generation","cursor"}.
std::string CheckpointJson(uint64_t generation, uint64_t cursor);
struct Checkpoint {
  uint64_t generation = 0;
  uint64_t cursor = 0;
};
Result<Checkpoint> ParseCheckpoint(std::string_view data);

// Parked entry data: {"generation","stream","revision","position","eventId","reason",
// "attempts","parkedAt"}.
std::string ParkedJson(uint64_t generation, const ParkedEntry& entry);
Result<ParkedEntry> ParseParked(std::string_view data, uint64_t* generation);
// Replayed/truncated marker data: {"generation","through"}: entries at parked revisions
// <= through are no longer parked.
std::string ParkedClearedJson(uint64_t generation, uint64_t through);
Result<Checkpoint> ParseParkedCleared(std::string_view data);  // cursor = through

// Parses JSON text; kInvalidArgument on a syntax error.
Result<Json> ParseJson(std::string_view text);

}  // namespace annals::delivery
