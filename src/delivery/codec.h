// The durable JSON forms of delivery state: definitions in the config stream, checkpoints and
// parked messages (docs/delivery.md, "Durable state"), and the JSON of a definition as the
// REST API shows it. Every decoder is total: malformed input is a kInvalidArgument Status.
#pragma once

#include <cstdint>
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

// The JSON of a source: {"stream": s} or filter members {"category", "eventTypes",
// "streamPrefixes", "typePrefixes", "typeRegex", "excludeSystem"} ({} is all of `$all`).
// Accepted on input also: "eventType" (one type) and "types" (alias of eventTypes).
Json SourceToJson(const Source& source);
Result<Source> SourceFromJson(const Json& j);

// "start", "end", a number (revision for a stream source, position otherwise), or
// {"time": "<RFC 3339>"} / {"position": n} / {"revision": n}.
Json StartToJson(const StartAt& start);
Result<StartAt> StartFromJson(const Json& j);

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
