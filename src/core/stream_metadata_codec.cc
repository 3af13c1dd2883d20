#include "core/stream_metadata_codec.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <optional>
#include <utility>

#include "core/json_syntax.h"
#include "core/json_writer.h"

namespace annals {
namespace {

constexpr std::string_view kMaxAge = "$maxAge";
constexpr std::string_view kMaxCount = "$maxCount";
constexpr std::string_view kTruncateBefore = "$tb";
constexpr std::string_view kCacheControl = "$cacheControl";
constexpr std::string_view kAcl = "$acl";

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

std::string_view TrimJsonWhitespace(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\n\r";
  size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

// The members of an object's JSON text, without the braces: `{"a":1}` gives `"a":1`.
std::string_view ObjectMembers(std::string_view object_json) {
  std::string_view text = TrimJsonWhitespace(object_json);
  if (text.size() < 2) return {};
  return TrimJsonWhitespace(text.substr(1, text.size() - 2));
}

// The exact source text of a value, whatever its type. simdjson's raw views run up to the
// next token, so they carry trailing whitespace.
simdjson::error_code RawValueText(simdjson::ondemand::value& value, std::string_view* text) {
  simdjson::ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  simdjson::error_code error = simdjson::SUCCESS;
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object object;
    error = value.get_object().get(object);
    if (!error) error = object.raw_json().get(*text);
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array array;
    error = value.get_array().get(array);
    if (!error) error = array.raw_json().get(*text);
  } else {
    *text = value.raw_json_token();
  }
  *text = TrimJsonWhitespace(*text);
  return error;
}

// Stores a known unsigned key's value in `out`; a null leaves it unset.
Status ReadUint(std::string_view what, std::string_view key, simdjson::ondemand::value& value,
                bool is_null, std::optional<uint64_t>* out) {
  if (is_null) return Status::Ok();
  uint64_t number;
  if (value.get_uint64().get(number) != simdjson::SUCCESS) {
    return Invalid(fmt::format("{}: {}: must be an unsigned 64-bit integer", what, key));
  }
  *out = number;
  return Status::Ok();
}

// ParseStreamMetadataJson, with `what` naming the text in messages, and `known_keys` counting
// the known `$` keys present (null ones included).
Result<StreamMetadata> Parse(std::string_view json, std::string_view what, int* known_keys) {
  // On Demand parsing trusts the input's grammar, so check the whole text first.
  if (std::string error = JsonSyntaxError(json); !error.empty()) {
    return Invalid(fmt::format("{}: not valid JSON: {}", what, error));
  }
  simdjson::padded_string padded(json);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return Invalid(fmt::format("{}: must be a JSON object", what));
  }

  StreamMetadata metadata;
  std::optional<uint64_t> truncate_before;
  bool seen_max_age = false, seen_max_count = false, seen_tb = false, seen_cache = false,
       seen_acl = false;
  JsonWriter custom;
  bool has_custom = false;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    simdjson::ondemand::json_type type;
    if (std::move(field_result).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return Invalid(fmt::format("{}: a key is not a valid string", what));
    }
    simdjson::ondemand::value value = field.value();
    if (value.type().get(type) != simdjson::SUCCESS) {
      return Invalid(fmt::format("{}: {}: unreadable value", what, key));
    }
    bool is_null = type == simdjson::ondemand::json_type::null;

    // A known key twice would leave which value counts to the reader's parser: refuse it.
    auto once = [&](bool* seen) -> Status {
      if (*seen) return Invalid(fmt::format("{}: {}: duplicate key", what, key));
      *seen = true;
      ++*known_keys;
      return Status::Ok();
    };
    if (key == kMaxAge) {
      ANNALS_RETURN_IF_ERROR(once(&seen_max_age));
      ANNALS_RETURN_IF_ERROR(ReadUint(what, key, value, is_null, &metadata.max_age_seconds));
    } else if (key == kMaxCount) {
      ANNALS_RETURN_IF_ERROR(once(&seen_max_count));
      ANNALS_RETURN_IF_ERROR(ReadUint(what, key, value, is_null, &metadata.max_count));
    } else if (key == kTruncateBefore) {
      ANNALS_RETURN_IF_ERROR(once(&seen_tb));
      ANNALS_RETURN_IF_ERROR(ReadUint(what, key, value, is_null, &truncate_before));
    } else if (key == kCacheControl) {
      ANNALS_RETURN_IF_ERROR(once(&seen_cache));
      ANNALS_RETURN_IF_ERROR(ReadUint(what, key, value, is_null, &metadata.cache_control_seconds));
    } else if (key == kAcl) {
      ANNALS_RETURN_IF_ERROR(once(&seen_acl));
      if (is_null) continue;
      std::string_view text;
      if (type != simdjson::ondemand::json_type::object ||
          RawValueText(value, &text) != simdjson::SUCCESS) {
        return Invalid(fmt::format("{}: {}: must be a JSON object", what, key));
      }
      metadata.acl_json = std::string(text);
    } else {
      std::string_view text;
      if (RawValueText(value, &text) != simdjson::SUCCESS) {
        return Invalid(fmt::format("{}: {}: unreadable value", what, key));
      }
      if (!has_custom) custom.BeginObject();
      has_custom = true;
      custom.Key(key);  // re-escaped: equivalent JSON, possibly spelt differently
      custom.Raw(text);
    }
  }
  if (truncate_before) metadata.truncate_before = Revision{*truncate_before};
  if (has_custom) {
    custom.EndObject();
    metadata.custom_json = custom.Take();
  }
  return metadata;
}

}  // namespace

Result<StreamMetadata> ParseStreamMetadataJson(std::string_view json) {
  int known_keys = 0;
  return Parse(json, "stream metadata", &known_keys);
}

std::string StreamMetadataToJson(const StreamMetadata& metadata) {
  // KurrentDB's key order, for output that diffs cleanly against its own.
  JsonWriter w;
  w.BeginObject();
  if (metadata.max_count) {
    w.Key(kMaxCount);
    w.Uint(*metadata.max_count);
  }
  if (metadata.max_age_seconds) {
    w.Key(kMaxAge);
    w.Uint(*metadata.max_age_seconds);
  }
  if (metadata.truncate_before) {
    w.Key(kTruncateBefore);
    w.Uint(metadata.truncate_before->value);
  }
  if (metadata.cache_control_seconds) {
    w.Key(kCacheControl);
    w.Uint(*metadata.cache_control_seconds);
  }
  if (!metadata.acl_json.empty()) {
    w.Key(kAcl);
    w.Raw(metadata.acl_json);
  }
  w.RawMembers(ObjectMembers(metadata.custom_json));
  w.EndObject();
  return w.Take();
}

Status ValidateStreamMetadata(const StreamMetadata& metadata) {
  if (!metadata.acl_json.empty()) {
    std::string_view acl = TrimJsonWhitespace(metadata.acl_json);
    if (acl.empty() || acl.front() != '{' || !JsonSyntaxError(acl).empty()) {
      return Invalid("acl_json: must be a JSON object");
    }
  }
  if (metadata.custom_json.empty()) return Status::Ok();
  // A custom object parses like metadata; it must not carry any key the parser would claim,
  // or the spliced output would hold that key twice.
  int known_keys = 0;
  Result<StreamMetadata> custom = Parse(metadata.custom_json, "custom_json", &known_keys);
  if (!custom.ok()) return custom.status();
  if (known_keys > 0) {
    return Invalid("custom_json: must not contain $maxAge, $maxCount, $tb, $cacheControl or $acl");
  }
  return Status::Ok();
}

Status ValidateStreamMetadataWrite(const StreamMetadata& metadata, const Limits& limits) {
  ANNALS_RETURN_IF_ERROR(ValidateStreamMetadata(metadata));
  // Metadata writes are rare: measuring the event's exact JSON costs nothing that matters.
  const size_t bytes = StreamMetadataToJson(metadata).size();
  if (bytes > limits.max_event_bytes) {
    return Status(StatusCode::kTooLarge,
                  fmt::format("metadata: the stream's metadata event would be {} bytes, more than "
                              "the {}-byte event limit",
                              bytes, limits.max_event_bytes));
  }
  return Status::Ok();
}

std::optional<int64_t> MaxAgeTicks(const StreamMetadata& metadata) {
  constexpr int64_t kTicksPerSecond = 10'000'000;
  if (!metadata.max_age_seconds ||
      *metadata.max_age_seconds >= static_cast<uint64_t>(INT64_MAX / kTicksPerSecond)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(*metadata.max_age_seconds) * kTicksPerSecond;
}

}  // namespace annals
