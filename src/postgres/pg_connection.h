// A thin layer over libpq: one connection, binary-format parameters and results, and the
// mapping of PostgreSQL errors onto annals::Status codes.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"
#include "annals/types.h"

namespace annals::pg {

// SQLSTATEs the store reacts to (https://www.postgresql.org/docs/15/errcodes-appendix.html).
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kDeadlockDetected = "40P01";

// Statement parameters, all sent in binary format with their type named, so no value is ever
// spliced into SQL text and bytea travels unescaped.
class Params {
 public:
  Params& Int64(int64_t value);
  Params& Int16(int16_t value);
  Params& Bool(bool value);
  Params& Text(std::string_view value);  // must be valid UTF-8 without NUL
  Params& Int64Array(const std::vector<int64_t>& values);
  Params& Int16Array(const std::vector<int16_t>& values);
  Params& TextArray(const std::vector<std::string_view>& values);
  Params& ByteaArray(const std::vector<std::string_view>& values);
  Params& UuidArray(const std::vector<Uuid>& values);

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into this object: valid while it is alive and unchanged.
  std::vector<const char*> Values() const;
  std::vector<int> Lengths() const;

 private:
  Params& Add(Oid type, std::string bytes);
  std::vector<Oid> types_;
  std::vector<std::string> values_;
};

// The rows of a statement's result, in binary format. Accessors assert the column's shape;
// a NULL reads as 0 or empty (check IsNull first where NULL is meaningful).
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  int64_t Int64(int row, int column) const;
  int16_t Int16(int row, int column) const;
  bool Bool(int row, int column) const;
  std::string Bytes(int row, int column) const;  // text or bytea
  annals::Uuid Uuid(int row, int column) const;
  std::optional<int64_t> OptionalInt64(int row, int column) const {
    if (IsNull(row, column)) return std::nullopt;
    return Int64(row, column);
  }

 private:
  std::string_view Raw(int row, int column) const;
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

struct ConnectOptions {
  std::string conninfo;
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds statement_timeout{0};
  // pg_stat_activity's name for the session: the node's name, which other nodes report as the
  // holder of a delivery lease (AdvisoryLeases::Holder).
  std::string application_name = "annals";
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with parameters (extended protocol), binary results.
  Result<Rows> Exec(std::string_view sql, const Params& params = {});
  // The same through a prepared statement `name` (prepared at its first use on this
  // connection): no parse at each call. Only for statements whose generic plan is right for
  // every argument (the server keeps one after five calls when it looks no worse).
  Result<Rows> ExecPrepared(std::string_view name, std::string_view sql, const Params& params);
  // One or more statements without parameters (simple protocol), e.g. "BEGIN" or DDL.
  Status ExecScript(const std::string& sql);
  // Rolls back an open transaction, if any; a failure marks the connection broken. Keeps
  // last_sqlstate() and last_constraint() of the statement that failed before.
  void RollbackIfOpen();

  // The SQLSTATE and constraint of the last failed statement ("" when it was not a server
  // error, e.g. a lost connection).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& last_constraint() const { return last_constraint_; }
  // A broken connection (lost, or in an unknown state) must not be reused.
  bool broken() const;
  // For an idle connection about to be reused: false (and broken) when the server has ended
  // its session meanwhile, as every session ends in a restart. Costs no round trip.
  bool StillOpen();
  void MarkBroken() { broken_ = true; }
  // libpq's last error on this connection, on one line ("" when none).
  std::string ErrorMessage() const;
  bool Idle() const { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Status StatusOf(const PGresult* result);
  // The rows of a statement's result (which it takes over), or the status of its failure.
  Result<Rows> RowsOf(PGresult* result);
  PGconn* conn_;
  bool broken_ = false;
  std::string last_sqlstate_;
  std::string last_constraint_;
  std::set<std::string> prepared_;  // names prepared on this session
};

// The Status for a SQLSTATE (with the server's message), as the store reports it.
Status StatusForSqlState(std::string_view sqlstate, std::string message);

// SQL for the server clock in 100 ns ticks since the Unix epoch (microsecond resolution).
inline constexpr std::string_view kNowTicksSql =
    "(extract(epoch from clock_timestamp()) * 10000000)::bigint";

}  // namespace annals::pg
