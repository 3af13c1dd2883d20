#include "api/grpc/wire/read_event_message.h"

#include <charconv>
#include <cstring>
#include <string_view>

namespace annals::grpcwire {
namespace {

constexpr uint8_t kVarint = 0;
constexpr uint8_t kLengthDelimited = 2;

constexpr uint8_t Tag(uint8_t field, uint8_t wire_type) {
  return static_cast<uint8_t>(field << 3 | wire_type);
}

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// A length-delimited field of `length` bytes (every tag here fits one byte: fields 1-15).
size_t FieldSize(size_t length) { return 1 + VarintSize(length) + length; }
// A varint field, left out when 0 (proto3's default).
size_t VarintFieldSize(uint64_t value) { return value == 0 ? 0 : 1 + VarintSize(value); }

class Writer {
 public:
  explicit Writer(uint8_t* out) : p_(out) {}
  uint8_t* end() const { return p_; }
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      *p_++ = static_cast<uint8_t>(value | 0x80);
      value >>= 7;
    }
    *p_++ = static_cast<uint8_t>(value);
  }
  // The header of a length-delimited field; its `length` bytes follow.
  void Header(uint8_t field, size_t length) {
    *p_++ = Tag(field, kLengthDelimited);
    Varint(length);
  }
  void Bytes(uint8_t field, std::string_view bytes) {
    Header(field, bytes.size());
    std::memcpy(p_, bytes.data(), bytes.size());
    p_ += bytes.size();
  }
  void BytesUnlessEmpty(uint8_t field, std::string_view bytes) {
    if (!bytes.empty()) Bytes(field, bytes);
  }
  void VarintField(uint8_t field, uint64_t value) {
    if (value == 0) return;
    *p_++ = Tag(field, kVarint);
    Varint(value);
  }
  void MapEntry(uint8_t field, std::string_view key, std::string_view value) {
    Header(field, FieldSize(key.size()) + FieldSize(value.size()));
    Bytes(1, key);
    Bytes(2, value);
  }

 private:
  uint8_t* p_;
};

constexpr std::string_view kTypeKey = "type";
constexpr std::string_view kContentTypeKey = "content-type";
constexpr std::string_view kCreatedKey = "created";

size_t MapEntrySize(std::string_view key, std::string_view value) {
  return FieldSize(FieldSize(key.size()) + FieldSize(value.size()));
}

// The two big-endian halves of the structured form.
void UuidHalves(const Uuid& id, uint64_t* most, uint64_t* least) {
  *most = 0;
  *least = 0;
  for (int i = 0; i < 8; ++i) {
    *most = (*most << 8) | id.bytes[i];
    *least = (*least << 8) | id.bytes[8 + i];
  }
}

}  // namespace

RecordedEventBody::RecordedEventBody(const RecordedEvent& event, bool structured_uuid)
    : event_(&event), structured_uuid_(structured_uuid) {
  created_size_ = static_cast<uint8_t>(
      std::to_chars(created_, created_ + sizeof(created_), event.created.ticks).ptr - created_);
  if (structured_uuid_) {
    uint64_t most = 0, least = 0;
    UuidHalves(event.id, &most, &least);
    uuid_size_ = static_cast<uint8_t>(FieldSize(VarintFieldSize(most) + VarintFieldSize(least)));
  } else {
    uuid_size_ = static_cast<uint8_t>(FieldSize(Uuid::kTextSize));
  }
  stream_id_size_ =
      static_cast<uint32_t>(event.stream.empty() ? 0 : FieldSize(event.stream.size()));
  size_ = FieldSize(uuid_size_) + FieldSize(stream_id_size_) +
          VarintFieldSize(event.revision.value) + 2 * VarintFieldSize(event.position.value) +
          MapEntrySize(kTypeKey, event.type) + MapEntrySize(kContentTypeKey, event.content_type) +
          MapEntrySize(kCreatedKey, std::string_view(created_, created_size_)) +
          (event.metadata.empty() ? 0 : FieldSize(event.metadata.size())) +
          (event.data.empty() ? 0 : FieldSize(event.data.size()));
}

uint8_t* RecordedEventBody::EncodeTo(uint8_t* out) const {
  const RecordedEvent& e = *event_;
  Writer w(out);
  w.Header(1, uuid_size_);  // RecordedEvent.id
  if (structured_uuid_) {
    uint64_t most = 0, least = 0;
    UuidHalves(e.id, &most, &least);
    w.Header(1, VarintFieldSize(most) + VarintFieldSize(least));  // UUID.structured
    w.VarintField(1, most);
    w.VarintField(2, least);
  } else {
    char text[Uuid::kTextSize];
    e.id.ToChars(text);
    w.Bytes(2, std::string_view(text, sizeof(text)));  // UUID.string
  }
  w.Header(2, stream_id_size_);  // RecordedEvent.stream_identifier
  w.BytesUnlessEmpty(3, e.stream);
  w.VarintField(3, e.revision.value);
  // Annals has one position per event: commit == prepare.
  w.VarintField(4, e.position.value);
  w.VarintField(5, e.position.value);
  w.MapEntry(6, kTypeKey, e.type);
  w.MapEntry(6, kContentTypeKey, e.content_type);
  w.MapEntry(6, kCreatedKey, std::string_view(created_, created_size_));
  w.BytesUnlessEmpty(7, e.metadata);
  w.BytesUnlessEmpty(8, e.data);
  return w.end();
}

ReadEventMessage::ReadEventMessage(const RecordedEvent& event, bool structured_uuid,
                                   bool with_position, std::optional<uint32_t> retry_count)
    : body_(event, structured_uuid),
      position_(event.position.value),
      with_position_(with_position),
      retry_count_(retry_count) {
  // A oneof member is written even when 0 (or empty): it says which member is set.
  const size_t position_size = with_position_ ? 1 + VarintSize(position_) : 2;
  const size_t retry_size = retry_count_ ? 1 + VarintSize(*retry_count_) : 0;
  read_event_size_ = FieldSize(body_.size()) + position_size + retry_size;
  size_ = FieldSize(read_event_size_);
}

void ReadEventMessage::EncodeTo(uint8_t* out) const {
  Writer w(out);
  w.Header(1, read_event_size_);  // ReadResp.event
  w.Header(1, body_.size());      // ReadEvent.event
  w = Writer(body_.EncodeTo(w.end()));
  if (with_position_) {
    w.Varint(Tag(3, kVarint));  // ReadEvent.commit_position
    w.Varint(position_);
  } else {
    w.Header(4, 0);  // ReadEvent.no_position
  }
  if (retry_count_) {
    w.Varint(Tag(5, kVarint));  // ReadEvent.retry_count (persistent subscriptions)
    w.Varint(*retry_count_);
  }
}

void ReadAllRespMessage::Add(const RecordedEvent& event) {
  events_.emplace_back(event, /*structured_uuid=*/true);
  size_ += FieldSize(events_.back().size());
}

void ReadAllRespMessage::SetLast(uint64_t next_position, bool end_of_log) {
  last_ = true;
  next_position_ = next_position;
  end_of_log_ = end_of_log;
  size_ += VarintFieldSize(1) + VarintFieldSize(next_position) + VarintFieldSize(end_of_log);
}

void ReadAllRespMessage::EncodeTo(uint8_t* out) const {
  Writer w(out);
  for (const RecordedEventBody& event : events_) {
    w.Header(1, event.size());  // ReadAllResp.events
    w = Writer(event.EncodeTo(w.end()));
  }
  w.VarintField(2, last_ ? 1 : 0);
  w.VarintField(3, next_position_);
  w.VarintField(4, end_of_log_ ? 1 : 0);
}

}  // namespace annals::grpcwire
