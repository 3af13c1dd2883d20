#include "postgres/pg_connection.h"

#include <poll.h>

#include <cassert>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace annals::pg {
namespace {

// Type OIDs (src/include/catalog/pg_type.dat), fixed for every PostgreSQL version.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kTextOid = 25;
constexpr Oid kUuidOid = 2950;
constexpr Oid kByteaArrayOid = 1001;
constexpr Oid kInt2ArrayOid = 1005;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kInt8ArrayOid = 1016;
constexpr Oid kUuidArrayOid = 2951;

// Binary format is big-endian.
template <typename T>
void PutBigEndian(std::string& out, T value) {
  for (int shift = (sizeof(T) - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((static_cast<uint64_t>(value) >> shift) & 0xff));
  }
}

template <typename T>
T GetBigEndian(std::string_view bytes) {
  assert(bytes.size() == sizeof(T));
  uint64_t value = 0;
  for (unsigned char c : bytes) value = (value << 8) | c;
  return static_cast<T>(value);
}

// A one-dimensional array without NULLs in PostgreSQL's binary array format (array_recv):
// ndim, has-null flag, element type, (size, lower bound) per dimension, then (length, bytes)
// per element.
template <typename Element, typename Encode>
std::string EncodeArray(Oid element_type, const std::vector<Element>& values, Encode encode) {
  std::string out;
  PutBigEndian<int32_t>(out, values.empty() ? 0 : 1);
  PutBigEndian<int32_t>(out, 0);
  PutBigEndian<uint32_t>(out, element_type);
  if (values.empty()) return out;
  PutBigEndian<int32_t>(out, static_cast<int32_t>(values.size()));
  PutBigEndian<int32_t>(out, 1);
  for (const Element& value : values) {
    const std::string bytes = encode(value);
    PutBigEndian<int32_t>(out, static_cast<int32_t>(bytes.size()));
    out += bytes;
  }
  return out;
}

std::string Int64Bytes(int64_t value) {
  std::string out;
  PutBigEndian(out, value);
  return out;
}

std::string Int16Bytes(int16_t value) {
  std::string out;
  PutBigEndian(out, value);
  return out;
}

std::string UuidBytes(const Uuid& id) { return std::string(id.bytes.begin(), id.bytes.end()); }

// libpq's multi-line messages ("ERROR: ...\nDETAIL: ...\n\tHINT") as one line for a Status.
std::string OneLine(std::string_view message) {
  std::string out;
  for (char c : message) {
    if (c == '\n' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

// ---- Params. ----

Params& Params::Add(Oid type, std::string bytes) {
  types_.push_back(type);
  values_.push_back(std::move(bytes));
  return *this;
}

Params& Params::Int64(int64_t value) { return Add(kInt8Oid, Int64Bytes(value)); }
Params& Params::Int16(int16_t value) { return Add(kInt2Oid, Int16Bytes(value)); }
Params& Params::Bool(bool value) { return Add(kBoolOid, std::string(1, value ? 1 : 0)); }
Params& Params::Text(std::string_view value) { return Add(kTextOid, std::string(value)); }

Params& Params::Int64Array(const std::vector<int64_t>& values) {
  return Add(kInt8ArrayOid, EncodeArray(kInt8Oid, values, Int64Bytes));
}
Params& Params::Int16Array(const std::vector<int16_t>& values) {
  return Add(kInt2ArrayOid, EncodeArray(kInt2Oid, values, Int16Bytes));
}
Params& Params::TextArray(const std::vector<std::string_view>& values) {
  return Add(kTextArrayOid,
             EncodeArray(kTextOid, values, [](std::string_view v) { return std::string(v); }));
}
Params& Params::ByteaArray(const std::vector<std::string_view>& values) {
  return Add(kByteaArrayOid,
             EncodeArray(kByteaOid, values, [](std::string_view v) { return std::string(v); }));
}
Params& Params::UuidArray(const std::vector<Uuid>& values) {
  return Add(kUuidArrayOid, EncodeArray(kUuidOid, values, UuidBytes));
}

std::vector<const char*> Params::Values() const {
  std::vector<const char*> out;
  for (const std::string& value : values_) out.push_back(value.data());
  return out;
}

std::vector<int> Params::Lengths() const {
  std::vector<int> out;
  for (const std::string& value : values_) out.push_back(static_cast<int>(value.size()));
  return out;
}

// ---- Rows. ----

std::string_view Rows::Raw(int row, int column) const {
  assert(PQfformat(result_.get(), column) == 1);
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          PQgetlength(result_.get(), row, column));
}

int64_t Rows::Int64(int row, int column) const {
  if (IsNull(row, column)) return 0;
  assert(PQftype(result_.get(), column) == kInt8Oid);
  return GetBigEndian<int64_t>(Raw(row, column));
}

int16_t Rows::Int16(int row, int column) const {
  if (IsNull(row, column)) return 0;
  assert(PQftype(result_.get(), column) == kInt2Oid);
  return GetBigEndian<int16_t>(Raw(row, column));
}

bool Rows::Bool(int row, int column) const {
  if (IsNull(row, column)) return false;
  assert(PQftype(result_.get(), column) == kBoolOid);
  return Raw(row, column)[0] != 0;
}

std::string Rows::Bytes(int row, int column) const {
  if (IsNull(row, column)) return {};
  return std::string(Raw(row, column));
}

Uuid Rows::Uuid(int row, int column) const {
  annals::Uuid id;
  if (IsNull(row, column)) return id;
  const std::string_view raw = Raw(row, column);
  assert(raw.size() == id.bytes.size());
  std::memcpy(id.bytes.data(), raw.data(), id.bytes.size());
  return id;
}

// ---- Errors. ----

Status StatusForSqlState(std::string_view sqlstate, std::string message) {
  const std::string_view error_class = sqlstate.substr(0, 2);
  StatusCode code = StatusCode::kInternal;
  if (error_class == "08" ||  // connection exception
      error_class == "53" ||  // insufficient resources (too many connections, disk full)
      error_class == "57" ||  // operator intervention: shutdown, statement timeout, cancel
      error_class == "40" ||  // transaction rollback: serialization failure, deadlock
      sqlstate == "55P03") {  // lock not available
    code = StatusCode::kUnavailable;
  } else if (error_class == "22") {  // data exception: e.g. text that is not valid UTF-8
    code = StatusCode::kInvalidArgument;
  }
  return Status(code, "postgres: " + message + " (SQLSTATE " + std::string(sqlstate) + ")");
}

// ---- Connection. ----

namespace {

// libpq hands a receiver the server's notices, and an error that arrives while the session is
// idle: the server's last word before it ends the session (a shutdown, pg_terminate_backend).
// Its default receiver prints them to standard error, outside the server's log.
void LogServerNotice(void* /*arg*/, const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string_view level = severity ? severity : "";
  const bool serious =
      level == "WARNING" || level == "ERROR" || level == "FATAL" || level == "PANIC";
  spdlog::log(serious ? spdlog::level::warn : spdlog::level::debug, "postgres: the server said: {}",
              OneLine(PQresultErrorMessage(notice)));
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectOptions& options) {
  // expand_dbname: the "dbname" value is the caller's whole connection string; keywords
  // before it are defaults it may override, keywords after it override what it says.
  //
  // TCP keepalives and a user timeout (ignored on unix sockets): when the database host
  // vanishes without closing the connection (power loss, a partition), a request waiting on
  // it fails with kUnavailable after about 15 s, instead of the kernel's retransmission
  // timeout (minutes); idle pooled connections are found dead the same way, and a node's
  // lease connection notices it lost its leases.
  const std::string connect_timeout =
      std::to_string(std::max<int64_t>(1, options.connect_timeout.count()));
  const char* keywords[] = {"keepalives",       "keepalives_idle",  "keepalives_interval",
                            "keepalives_count", "tcp_user_timeout", "dbname",
                            "connect_timeout",  "application_name", nullptr};
  const char* values[] = {"1",
                          "5",
                          "2",
                          "3",
                          "10000",
                          options.conninfo.c_str(),
                          connect_timeout.c_str(),
                          options.application_name.c_str(),
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status(StatusCode::kUnavailable, "postgres: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return Status(StatusCode::kUnavailable, "postgres: cannot connect: " + message);
  }
  PQsetNoticeReceiver(conn, LogServerNotice, nullptr);
  std::unique_ptr<Connection> connection(new Connection(conn));
  // READ COMMITTED whatever the role's default: the log head's UPDATE must wait for the
  // previous writer and then take its committed value (docs/postgres.md, "Ordering"); under
  // REPEATABLE READ it would fail with a serialization error instead. No JIT: the store's
  // statements are short, and a plan whose estimate crosses jit_above_cost (a big log read)
  // would be compiled again on every execution, some 100 ms each time.
  Result<Rows> set = connection->Exec(
      "SELECT set_config('statement_timeout', $1, false) IS NOT NULL, "
      "set_config('default_transaction_isolation', 'read committed', false) IS NOT NULL, "
      "set_config('jit', 'off', false) IS NOT NULL",
      Params().Text(std::to_string(options.statement_timeout.count())));
  if (!set.ok()) return set.status();
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

std::string Connection::ErrorMessage() const { return OneLine(PQerrorMessage(conn_)); }

bool Connection::broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::StillOpen() {
  if (broken()) return false;
  // An idle session is sent nothing (the pool's connections do not LISTEN) until the server
  // ends it: then it sends a last error (shutdown, pg_terminate_backend) and closes the
  // socket. libpq only notices at the next statement, which would fail; the socket being
  // readable tells now.
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd >= 0 && poll(&fd, 1, 0) == 0) return true;
  broken_ = true;
  return false;
}

Status Connection::StatusOf(const PGresult* result) {
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    last_sqlstate_.clear();
    last_constraint_.clear();
    return Status::Ok();
  }
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* constraint = result ? PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  last_sqlstate_ = sqlstate ? sqlstate : "";
  last_constraint_ = constraint ? constraint : "";
  std::string message = OneLine(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (PQstatus(conn_) != CONNECTION_OK || last_sqlstate_.empty()) {
    // No server error: the connection failed (or the server closed it). What the statement
    // did is unknown, and the connection is not reused.
    broken_ = true;
    return Status(StatusCode::kUnavailable, "postgres: connection lost: " + message);
  }
  if (last_sqlstate_.starts_with("08") || last_sqlstate_.starts_with("57P")) broken_ = true;
  return StatusForSqlState(last_sqlstate_, message);
}

Result<Rows> Connection::RowsOf(PGresult* result) {
  Rows rows(result);
  Status status = StatusOf(result);
  if (!status.ok()) return status;
  return rows;
}

Result<Rows> Connection::Exec(std::string_view sql, const Params& params) {
  const std::vector<const char*> values = params.Values();
  const std::vector<int> lengths = params.Lengths();
  const std::vector<int> formats(params.size(), 1);
  const std::string statement(sql);
  return RowsOf(PQexecParams(conn_, statement.c_str(), params.size(), params.types(), values.data(),
                             lengths.data(), formats.data(), /*resultFormat=*/1));
}

Result<Rows> Connection::ExecPrepared(std::string_view name, std::string_view sql,
                                      const Params& params) {
  const std::string statement_name(name);
  if (!prepared_.contains(statement_name)) {
    const std::string statement(sql);
    PGresult* prepared =
        PQprepare(conn_, statement_name.c_str(), statement.c_str(), params.size(), params.types());
    Status status = StatusOf(prepared);
    PQclear(prepared);
    if (!status.ok()) return status;
    prepared_.insert(statement_name);
  }
  const std::vector<const char*> values = params.Values();
  const std::vector<int> lengths = params.Lengths();
  const std::vector<int> formats(params.size(), 1);
  return RowsOf(PQexecPrepared(conn_, statement_name.c_str(), params.size(), values.data(),
                               lengths.data(), formats.data(), /*resultFormat=*/1));
}

Status Connection::ExecScript(const std::string& sql) {
  // PQexec returns the last statement's result; an earlier failure stops the script there and
  // is the result returned.
  PGresult* result = PQexec(conn_, sql.c_str());
  Status status = StatusOf(result);
  PQclear(result);
  return status;
}

void Connection::RollbackIfOpen() {
  if (broken()) return;
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  // The failure that led here stays the one reported by last_sqlstate().
  std::string sqlstate = std::move(last_sqlstate_);
  std::string constraint = std::move(last_constraint_);
  if (!ExecScript("ROLLBACK").ok()) broken_ = true;
  last_sqlstate_ = std::move(sqlstate);
  last_constraint_ = std::move(constraint);
}

}  // namespace annals::pg
