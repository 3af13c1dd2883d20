// A batch of appends in one statement: `annals_append` (schema migration 2) runs every check
// and write of the common case on the server, and, called outside a transaction, commits on
// its own, so the common append costs one round trip and one WAL flush instead of six
// statements. What it declines (a deleted stream, a failed expectation, a used event id,
// metadata that soft-deletes) it leaves unwritten; the caller takes those the long way, which
// gives the precise answer (docs/postgres.md, "Appends in one statement").
#include <algorithm>

#include "postgres/head_notifier.h"
#include "postgres/postgres_store_impl.h"

namespace annals::pg {
namespace {

int16_t KindCode(ExpectedRevision::Kind kind) {
  switch (kind) {
    case ExpectedRevision::Kind::kAny:
      return 0;
    case ExpectedRevision::Kind::kNoStream:
      return 1;
    case ExpectedRevision::Kind::kStreamExists:
      return 2;
    case ExpectedRevision::Kind::kExact:
      return 3;
  }
  return 0;
}

}  // namespace

Result<OneStatementAppends> AppendInOneStatement(Connection& c,
                                                 const std::vector<const AppendRequest*>& batch) {
  std::vector<std::string_view> streams, types, content_types, datas, metadatas;
  std::vector<int16_t> kinds;
  std::vector<int64_t> expected, counts, event_append, event_offset;
  std::vector<Uuid> ids;
  for (size_t i = 0; i < batch.size(); ++i) {
    const AppendRequest& request = *batch[i];
    streams.push_back(request.stream);
    kinds.push_back(KindCode(request.expected.kind()));
    expected.push_back(request.expected.kind() == ExpectedRevision::Kind::kExact
                           ? ClampToInt64(request.expected.revision().value)
                           : 0);
    counts.push_back(static_cast<int64_t>(request.events.size()));
    for (size_t e = 0; e < request.events.size(); ++e) {
      const ProposedEvent& event = request.events[e];
      event_append.push_back(static_cast<int64_t>(i + 1));
      event_offset.push_back(static_cast<int64_t>(e));
      ids.push_back(*event.id);  // drawn when the append was queued
      types.push_back(event.type);
      content_types.push_back(event.content_type);
      datas.push_back(event.data);
      metadatas.push_back(event.metadata);
    }
  }
  Params params;
  params.TextArray(streams)
      .Int16Array(kinds)
      .Int64Array(expected)
      .Int64Array(counts)
      .Int64Array(event_append)
      .Int64Array(event_offset)
      .UuidArray(ids)
      .TextArray(types)
      .TextArray(content_types)
      .ByteaArray(datas)
      .ByteaArray(metadatas)
      .Text(kHeadChannel);
  Result<Rows> rows =
      c.ExecPrepared("annals_append",
                     "SELECT out_append, out_first_revision, out_last_position "
                     "FROM annals_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                     params);
  if (!rows.ok()) return rows.status();
  OneStatementAppends out;
  out.written.resize(batch.size());
  for (int row = 0; row < rows->size(); ++row) {
    const int64_t index = rows->Int64(row, 0) - 1;
    if (index < 0 || static_cast<size_t>(index) >= batch.size()) {
      return Status(StatusCode::kInternal, "postgres: annals_append answered an unknown append");
    }
    const uint64_t first = static_cast<uint64_t>(rows->Int64(row, 1));
    const uint64_t last_position = static_cast<uint64_t>(rows->Int64(row, 2));
    out.written[index] =
        AppendResult{Revision{first}, Revision{first + batch[index]->events.size() - 1},
                     Position{last_position}, false};
    out.head = Position{std::max(out.head.value_or(Position{0}).value, last_position + 1)};
  }
  return out;
}

}  // namespace annals::pg
