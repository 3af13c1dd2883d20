#include "api/http/sse.h"

#include <charconv>

#include "api/http/event_json.h"
#include "core/json_writer.h"

namespace annals::http {

namespace {

std::string ToDecimal(uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

}  // namespace

void AppendSseFrame(std::string* out, std::string_view event, std::string_view id,
                    std::string_view data) {
  if (!event.empty()) out->append("event: ").append(event).push_back('\n');
  if (!id.empty()) out->append("id: ").append(id).push_back('\n');
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n' || data[i] == '\r') {
      out->append("data: ").append(data.substr(start, i - start)).push_back('\n');
      if (i < data.size() && data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  out->push_back('\n');
}

SseCursor::SseCursor(EventStore* store, SseSpec spec, uint64_t batch)
    : store_(store), spec_(std::move(spec)), batch_(batch == 0 ? 1 : batch) {}

Status SseCursor::Resolve() {
  resolved_ = true;
  if (spec_.all) {
    if (spec_.from_end) {
      next_position_ = store_->Head();
    } else {
      next_position_ = Position{spec_.from.value_or(0)};
      if (spec_.after_from && spec_.from) skip_position_ = next_position_;
    }
    return Status::Ok();
  }
  if (spec_.from_end) {
    auto info = store_->GetStreamInfo(spec_.stream);
    if (!info.ok()) {
      if (info.status().code() == StatusCode::kNotFound) {
        next_revision_ = 0;
        return Status::Ok();
      }
      return info.status();
    }
    if (info->state == StreamState::kTombstoned) {
      return Status(StatusCode::kStreamDeleted, "stream '" + spec_.stream + "' is deleted");
    }
    next_revision_ = info->last_revision ? info->last_revision->value + 1 : 0;
  } else {
    next_revision_ = spec_.from.value_or(0);
  }
  return Status::Ok();
}

Result<SseCursor::Batch> SseCursor::ReadBatch(std::string* out) {
  // The head is taken before the read: anything committed after it wakes the watch at once,
  // so no commit can fall between a read that missed it and the watch.
  const Position head_before = store_->Head();
  if (!resolved_) ANNALS_RETURN_IF_ERROR(Resolve());
  Batch batch;
  std::string json;
  if (spec_.all) {
    ReadAllRequest req;
    req.from = next_position_;
    req.direction = Direction::kForwards;
    req.max_count = batch_;
    req.max_bytes = kPageBytes;
    req.filter = spec_.filter;
    auto r = store_->ReadAll(req);
    if (!r.ok()) return r.status();
    for (const RecordedEvent& e : r->events) {
      if (skip_position_ && e.position <= *skip_position_) continue;
      JsonWriter w;
      WriteEvent(w, e);
      json = w.Take();
      AppendSseFrame(out, {}, ToDecimal(e.position.value), json);
      batch.events++;
      batch.last_position = e.position.value;
    }
    skip_position_.reset();
    next_position_ = r->next;
    batch.caught_up = r->end_of_log;
    watch_ = r->next < head_before ? head_before : r->next;
    return batch;
  }
  ReadStreamRequest req;
  req.stream = spec_.stream;
  req.from = Revision{next_revision_};
  req.direction = Direction::kForwards;
  req.max_count = batch_;
  req.max_bytes = kPageBytes;
  auto r = store_->ReadStream(req);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kNotFound) {
      batch.caught_up = true;
      watch_ = head_before;
      return batch;
    }
    return r.status();
  }
  for (const RecordedEvent& e : r->events) {
    JsonWriter w;
    WriteEvent(w, e);
    json = w.Take();
    AppendSseFrame(out, {}, ToDecimal(e.revision.value), json);
    batch.events++;
    batch.last_position = e.position.value;
    next_revision_ = e.revision.value + 1;
  }
  if (r->next) {
    next_revision_ = std::max(next_revision_, r->next->value);
  }
  batch.caught_up = !r->next.has_value() || r->events.empty();
  watch_ = head_before;
  return batch;
}

}  // namespace annals::http
