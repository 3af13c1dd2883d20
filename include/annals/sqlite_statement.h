// A prepared SQLite statement that finalizes itself, for read models and consumers that keep
// their state in SQLite (annals/projection.h). Errors come back as annals::Status (kInternal,
// with SQLite's message).
//
//   annals::SqlStatement(db, "UPDATE visits SET room = ?2 WHERE visit_id = ?1")
//       .Bind(1, visit_id).Bind(2, room).Done();
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace annals {

class SqlStatement {
 public:
  SqlStatement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~SqlStatement() { sqlite3_finalize(stmt_); }
  SqlStatement(const SqlStatement&) = delete;
  SqlStatement& operator=(const SqlStatement&) = delete;

  SqlStatement& Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqlStatement& Bind(int i, int64_t value) {
    sqlite3_bind_int64(stmt_, i, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code; SQLITE_ERROR when the statement did not prepare.
  int Step() { return stmt_ == nullptr ? SQLITE_ERROR : sqlite3_step(stmt_); }
  // Steps a statement that returns no rows.
  Status Done() { return Step() == SQLITE_DONE ? Status::Ok() : Error(); }
  Status Error() const {
    return Status(StatusCode::kInternal, std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t == nullptr ? std::string() : reinterpret_cast<const char*>(t);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace annals
