// The in-memory reference implementation of EventStore: the model every other backend is
// compared with (differential tests) and the first backend of the conformance suite.
//
// It implements docs/event-store-semantics.md as literally as possible and prefers clarity to
// speed: one mutex, one vector for the log, derived state recomputed on demand. Nothing is
// persisted; a store lives as long as its object.
//
// Choices where the document leaves room (keep the conformance suite and this file in step):
// - Positions: the event at log index i has position 100 * (i + 1); Head() is the position the
//   next event will get, 100 * (n + 1). Callers must treat positions as opaque.
// - A stream is soft-deleted when it has events and its current metadata has `$tb` ==
//   kSoftDeletedTruncateBefore (KurrentDB's rule), whoever wrote that metadata.
// - `$` streams other than `$$<stream>` (written by AppendRequest::system_writer) have no
//   metadata, are never soft-deleted and read without visibility rules.
// - ReadStream, GetStreamInfo accept `$` names (e.g. `$$<stream>`, read without visibility
//   rules); SetStreamMetadata and DeleteStream refuse them with kInvalidArgument.
// - ReadAll with max_count or max_scan 0, and ListStreams with limit 0, are kInvalidArgument, as
//   is a type_regex or stream_regex that does not compile. A regex matches anywhere in the
//   type or stream name (search).
// - A tombstone's `$streamDeleted` event has empty data and content type
//   application/octet-stream. GetStreamInfo of a tombstoned stream keeps `L` and the count of
//   real events; last_position/last_updated are those of the tombstone record.
// - WatchHead whose condition already holds runs the callback inline, before returning; deferred
//   callbacks run on the committing thread after the commit, outside the store's lock.
// - AppendAsync completes inline.
#pragma once

#include <memory>

#include "annals/event_store.h"
#include "annals/limits.h"

namespace annals {

std::unique_ptr<EventStore> NewMemoryStore(const Limits& limits = {});

}  // namespace annals
