#include "api/grpc/wire/read_message_decoder.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <string>

#include "annals/limits.h"
#include "api/grpc/wire/event_wire.h"

namespace annals::grpcwire {
namespace {

using google::protobuf::io::CodedInputStream;

// Protobuf's wire types (encoding.md of protobuf's documentation).
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kDelimited = 2, kFixed32 = 5 };

uint32_t FieldOf(uint32_t tag) { return tag >> 3; }
uint32_t WireOf(uint32_t tag) { return tag & 7; }

// Skips a field this decoder does not use. Field number 0 is invalid, as protobuf says.
// Groups (wire types 3 and 4) are refused: no message of this protocol has any, and protobuf 3
// does not write them.
bool SkipField(CodedInputStream* in, uint32_t tag) {
  if (FieldOf(tag) == 0) return false;
  switch (WireOf(tag)) {
    case kVarint: {
      uint64_t ignored;
      return in->ReadVarint64(&ignored);
    }
    case kFixed64: {
      uint64_t ignored;
      return in->ReadLittleEndian64(&ignored);
    }
    case kDelimited: {
      uint32_t size;
      return in->ReadVarint32(&size) && size <= INT_MAX && in->Skip(static_cast<int>(size));
    }
    case kFixed32: {
      uint32_t ignored;
      return in->ReadLittleEndian32(&ignored);
    }
    default:
      return false;
  }
}

bool ReadBytes(CodedInputStream* in, std::string* out) {
  uint32_t size;
  return in->ReadVarint32(&size) && size <= INT_MAX && in->ReadString(out, static_cast<int>(size));
}

// A `string` field (not `bytes`): protobuf refuses a message whose string is not UTF-8.
bool ReadText(CodedInputStream* in, std::string* out) {
  return ReadBytes(in, out) && IsValidUtf8(*out);
}

// Decodes one length-delimited message with `field(tag)` for each of its fields (false: the
// bytes are malformed). The message must end exactly at its length.
template <class OnField>
bool ReadMessage(CodedInputStream* in, OnField&& field) {
  uint32_t size;
  if (!in->ReadVarint32(&size) || size > INT_MAX) return false;
  // Within its parent (PushLimit would silently clip it to the parent's end).
  const int parent_left = in->BytesUntilLimit();
  if (parent_left >= 0 && static_cast<int>(size) > parent_left) return false;
  const CodedInputStream::Limit limit = in->PushLimit(static_cast<int>(size));
  bool ok = true;
  while (ok) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) break;
    ok = field(tag);
  }
  // A message cut short by the end of the input ends "legitimately" for ReadTag; only its
  // length tells.
  ok = ok && in->ConsumedEntireMessage() && in->BytesUntilLimit() == 0;
  in->PopLimit(limit);
  return ok;
}

struct UuidFields {
  bool structured = false;
  bool text = false;
  uint64_t most = 0;
  uint64_t least = 0;
  std::string string;
};

bool ReadUuid(CodedInputStream* in, UuidFields* id) {
  return ReadMessage(in, [&](uint32_t tag) {
    // A oneof: the last member wins; a message member seen again is merged, as protobuf does.
    if (FieldOf(tag) == 1 && WireOf(tag) == kDelimited) {  // Structured
      if (!id->structured) id->most = id->least = 0;
      id->structured = true;
      id->text = false;
      return ReadMessage(in, [&](uint32_t inner) {
        if (FieldOf(inner) == 1 && WireOf(inner) == kVarint) return in->ReadVarint64(&id->most);
        if (FieldOf(inner) == 2 && WireOf(inner) == kVarint) return in->ReadVarint64(&id->least);
        return SkipField(in, inner);
      });
    }
    if (FieldOf(tag) == 2 && WireOf(tag) == kDelimited) {  // string
      id->text = true;
      id->structured = false;
      return ReadText(in, &id->string);
    }
    return SkipField(in, tag);
  });
}

std::optional<Uuid> ToUuid(const UuidFields& id) {
  if (id.text) return Uuid::Parse(id.string);
  if (!id.structured) return std::nullopt;
  return UuidFromHalves(id.most, id.least);
}

// `created`, as RecordedFromProto reads it (strtoll: 0 when it is no number), through
// from_chars when the whole value is one.
int64_t Ticks(const std::string& text) {
  int64_t ticks = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, ticks);
  if (error == std::errc() && stop == end) return ticks;
  return std::strtoll(text.c_str(), nullptr, 10);
}

// One entry of the `metadata` map; the keys Annals reads go to the event's fields.
bool ReadMetadataEntry(CodedInputStream* in, std::string* key, std::string* value,
                       RecordedEvent* e) {
  key->clear();
  value->clear();
  if (!ReadMessage(in, [&](uint32_t tag) {
        if (FieldOf(tag) == 1 && WireOf(tag) == kDelimited) return ReadText(in, key);
        if (FieldOf(tag) == 2 && WireOf(tag) == kDelimited) return ReadText(in, value);
        return SkipField(in, tag);
      })) {
    return false;
  }
  if (*key == "type") {
    e->type = *value;
  } else if (*key == "content-type") {
    e->content_type = *value;
  } else if (*key == "created") {
    e->created.ticks = Ticks(*value);
  }
  return true;
}

Status Malformed() {
  return Status(StatusCode::kInternal, "the server sent a ReadAllResp that does not parse");
}

Status DecodeRecordedEvent(CodedInputStream* in, RecordedEvent* e) {
  UuidFields id;
  bool has_id = false;
  std::string key, value;
  const bool ok = ReadMessage(in, [&](uint32_t tag) {
    const uint32_t field = FieldOf(tag);
    const uint32_t wire = WireOf(tag);
    if (wire == kVarint && (field == 3 || field == 4 || field == 5)) {
      uint64_t v;
      if (!in->ReadVarint64(&v)) return false;
      if (field == 3) e->revision = Revision{v};
      if (field == 5) e->position = Position{v};  // one position per event: commit's
      return true;
    }
    if (wire != kDelimited) return SkipField(in, tag);
    switch (field) {
      case 1:
        has_id = true;
        return ReadUuid(in, &id);
      case 2:
        return ReadMessage(in, [&](uint32_t inner) {
          if (FieldOf(inner) == 3 && WireOf(inner) == kDelimited) return ReadBytes(in, &e->stream);
          return SkipField(in, inner);
        });
      case 6:
        return ReadMetadataEntry(in, &key, &value, e);
      case 7:
        return ReadBytes(in, &e->metadata);
      case 8:
        return ReadBytes(in, &e->data);
      default:
        return SkipField(in, tag);
    }
  });
  if (!ok) return Malformed();
  std::optional<Uuid> uuid = has_id ? ToUuid(id) : std::nullopt;
  if (!uuid) return Status(StatusCode::kInternal, "the server sent an event id that is not a UUID");
  e->id = *uuid;
  return Status::Ok();
}

}  // namespace

Status DecodeReadAllResp(google::protobuf::io::ZeroCopyInputStream* stream,
                         std::vector<RecordedEvent>* events, ReadAllRespTail* tail) {
  CodedInputStream in(stream);
  *tail = ReadAllRespTail{};
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const uint32_t field = FieldOf(tag);
    if (field == 1 && WireOf(tag) == kDelimited) {
      Status s = DecodeRecordedEvent(&in, &events->emplace_back());
      if (!s.ok()) {
        events->pop_back();
        return s;
      }
      continue;
    }
    if (WireOf(tag) == kVarint && field >= 2 && field <= 4) {
      uint64_t v;
      if (!in.ReadVarint64(&v)) return Malformed();
      if (field == 2) tail->last = v != 0;
      if (field == 3) tail->next_position = v;
      if (field == 4) tail->end_of_log = v != 0;
      continue;
    }
    if (!SkipField(&in, tag)) return Malformed();
  }
  if (!in.ConsumedEntireMessage()) return Malformed();
  return Status::Ok();
}

Status DecodeReadAllResp(const uint8_t* data, size_t size, std::vector<RecordedEvent>* events,
                         ReadAllRespTail* tail) {
  if (size > INT_MAX) return Malformed();
  google::protobuf::io::ArrayInputStream stream(data, static_cast<int>(size));
  return DecodeReadAllResp(&stream, events, tail);
}

bool DecodeReadRespEvent(google::protobuf::io::ZeroCopyInputStream* stream, RecordedEvent* event) {
  CodedInputStream in(stream);
  bool content = false;  // a member of the `content` oneof was seen
  bool decoded = false;  // ...and it was one event, decoded
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const uint32_t field = FieldOf(tag);
    if (field >= 1 && field <= 9) {  // `content`'s members: only one, once, and an event
      if (content || field != 1 || WireOf(tag) != kDelimited) return false;
      content = true;
      bool inner_event = false;
      const bool ok = ReadMessage(&in, [&](uint32_t inner) {
        if (FieldOf(inner) == 2) return false;  // a link: left to protobuf
        if (FieldOf(inner) != 1) return SkipField(&in, inner);
        if (inner_event || WireOf(inner) != kDelimited) return false;
        inner_event = true;
        return DecodeRecordedEvent(&in, event).ok();
      });
      if (!ok || !inner_event) return false;
      decoded = true;
      continue;
    }
    if (!SkipField(&in, tag)) return false;
  }
  return decoded && in.ConsumedEntireMessage();
}

bool DecodeReadRespEvent(const uint8_t* data, size_t size, RecordedEvent* event) {
  if (size > INT_MAX) return false;
  google::protobuf::io::ArrayInputStream stream(data, static_cast<int>(size));
  return DecodeReadRespEvent(&stream, event);
}

}  // namespace annals::grpcwire
