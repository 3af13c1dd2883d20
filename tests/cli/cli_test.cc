// Integration tests of the `annals` binary: each test runs the real executable on a fresh data
// directory and checks its exit code, its stdout (parsing --json output back) and its stderr.
// Some states a command cannot create on its own (a tombstone, a data directory held by
// another process) are set up through the engine API, in this process.
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "annals/engine.h"
#include "tests/cli/cli_test_util.h"
#include "tests/engine/log_test_util.h"

namespace annals {
namespace {

using ::annals::testing::CliResult;
using ::annals::testing::Lines;
using ::annals::testing::RunAnnals;
using ::annals::testing::RunShell;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The exit codes of docs/cli.md.
constexpr int kOk = 0, kUsage = 2, kWrongRevision = 3, kNotFound = 4, kDeleted = 5,
              kIdempotency = 6, kTooLarge = 7, kCorruption = 8, kUnavailable = 9, kIoError = 10;

constexpr char kId1[] = "0b1f5a3c-8c9e-4c1e-9a62-3f4d5e6f7a81";
constexpr char kId2[] = "1c2e6b4d-9daf-4d2f-8b73-4a5e6f708192";

class CliTest : public ::testing::Test {
 protected:
  std::string data() const { return dir_.path() + "/data"; }

  // `annals <command> --data-dir <data> <args...>`.
  CliResult Annals(const std::string& command, std::vector<std::string> args = {},
                   const std::string& input = "") {
    args.insert(args.begin(), {command, "--data-dir", data()});
    return RunAnnals(args, input);
  }

  // Appends through the CLI and returns the parsed --json result.
  simdjson::dom::element AppendJson(std::vector<std::string> args) {
    args.push_back("--json");
    CliResult r = Annals("append", args);
    EXPECT_EQ(r.exit_code, kOk) << r;
    EXPECT_EQ(Lines(r.out).size(), 1u) << r;
    results_.push_back(r.out);
    simdjson::dom::element doc;
    EXPECT_EQ(parser_.parse(results_.back()).get(doc), simdjson::SUCCESS) << r.out;
    return doc;
  }

  // Each --json line of `r.out`, parsed.
  std::vector<simdjson::dom::element> JsonLines(const CliResult& r) {
    std::vector<simdjson::dom::element> docs;
    for (const std::string& line : Lines(r.out)) {
      // One parser per document: a dom::element lives as long as its parser's last parse.
      parsers_.push_back(std::make_unique<simdjson::dom::parser>());
      simdjson::dom::element doc;
      EXPECT_EQ(parsers_.back()->parse(line).get(doc), simdjson::SUCCESS) << line;
      docs.push_back(doc);
    }
    return docs;
  }

  // Opens the data directory in this process (the CLI must not hold it at the same time).
  std::unique_ptr<Engine> OpenInProcess() {
    EngineOptions options;
    options.data_dir = data();
    options.durability = Durability::kUnsafeNoSync;
    auto engine = OpenEngine(options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return std::move(engine).value();
  }

  // Appends `n` events `{"i":k}` of type `type` to `stream` in one batch, in this process.
  void AppendInProcess(Engine& engine, const std::string& stream, int n,
                       const std::string& type = "Counted") {
    AppendRequest request;
    request.stream = stream;
    for (int i = 0; i < n; ++i) {
      ProposedEvent e;
      e.type = type;
      e.data = "{\"i\":" + std::to_string(i) + "}";
      request.events.push_back(e);
    }
    auto result = engine.Append(request);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
  }

  // Appends three events to `order-1` and flips a byte in the second one's data; returns the
  // three positions.
  std::vector<uint64_t> AppendThreeAndDamageTheSecond() {
    std::vector<uint64_t> positions;
    for (int i = 0; i < 3; ++i) {
      positions.push_back(
          AppendJson({"--stream", "order-1", "--type", "Placed", "--data",
                      "{\"payload\":\"" + std::string(100, 'a' + i) + "\"}"})["position"]);
    }
    annals::testing::FlipByte(annals::testing::SegmentPath(data(), 0), positions[1] + 32 + 48 + 60);
    return positions;
  }

  annals::testing::TempDir dir_;
  simdjson::dom::parser parser_;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers_;
  std::vector<std::string> results_;  // keeps parsed text alive
};

std::string WriteTempFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

// ---- usage ----

TEST_F(CliTest, HelpExitsZero) {
  CliResult r = RunAnnals({"--help"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("append"));
  EXPECT_THAT(r.out, HasSubstr("verify"));
  r = RunAnnals({"read", "--help"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("--type-regex"));
}

TEST_F(CliTest, ParseErrorsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"no-such-command"},
           {"append", "--stream", "s"},  // --type and --data missing
           {"read", "--data-dir", "d", "--no-such-option"},
           {"read", "--stream", "s", "--all"},
           {"stats", "--durability", "sometimes"},
           {"verify", "--corruption-policy", "ignore"},
       }) {
    CliResult r = RunAnnals(args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, StartsWith("annals: usage: ")) << r;
    EXPECT_EQ(Lines(r.err).size(), 1u) << r;
  }
}

TEST_F(CliTest, ReadNeedsExactlyOneSource) {
  CliResult r = Annals("read");
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("--stream S or --all"));
}

TEST_F(CliTest, FiltersAreForAllReadsOnly) {
  CliResult r = Annals("read", {"--stream", "s", "--category", "s"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("--all"));
}

TEST_F(CliTest, BadNumbersAreInvalidArguments) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--stream", "s", "--limit", "0"},
           {"--stream", "s", "--limit", "-3"},
           {"--stream", "s", "--limit", "99999999999999999999999"},
           {"--stream", "s", "--from", "two"},
           {"--all", "--from", "1e3"},
       }) {
    CliResult r = Annals("read", args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, StartsWith("annals: invalid_argument: ")) << r;
  }
  // Refused before the data directory was created.
  EXPECT_FALSE(std::filesystem::exists(data()));
}

TEST_F(CliTest, ReadingCommandsDoNotCreateADataDirectory) {
  for (std::string command : {"read", "streams", "verify", "stats"}) {
    std::vector<std::string> args;
    if (command == "read") args = {"--all"};
    CliResult r = Annals(command, args);
    EXPECT_EQ(r.exit_code, kNotFound) << command << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: not_found: data directory ")) << r;
  }
  EXPECT_FALSE(std::filesystem::exists(data()));
}

// ---- append ----

TEST_F(CliTest, AppendPrintsRevisionsAndPosition) {
  CliResult r = Annals("append", {"--stream", "order-1", "--type", "Placed", "--data",
                                  "{\"total\":3}", "--id", kId1});
  ASSERT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("appended to 'order-1': first revision 0, last revision 0"));
  EXPECT_THAT(r.out, HasSubstr(std::string("id ") + kId1));
  EXPECT_TRUE(r.err.empty()) << r;

  r = Annals("append", {"--stream", "order-1", "--type", "Paid", "--data", "{}"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("first revision 1, last revision 1"));
}

TEST_F(CliTest, AppendJsonResult) {
  simdjson::dom::element first =
      AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}", "--id", kId1});
  EXPECT_EQ(std::string_view(first["stream"]), "order-1");
  EXPECT_EQ(std::string_view(first["id"]), kId1);
  EXPECT_EQ(uint64_t(first["firstRevision"]), 0u);
  EXPECT_EQ(uint64_t(first["lastRevision"]), 0u);
  EXPECT_FALSE(bool(first["idempotent"]));
  const uint64_t first_position = first["position"];
  simdjson::dom::element second =
      AppendJson({"--stream", "order-1", "--type", "Paid", "--data", "{}"});
  EXPECT_EQ(uint64_t(second["firstRevision"]), 1u);
  EXPECT_GT(uint64_t(second["position"]), first_position);
}

TEST_F(CliTest, SameIdTwiceIsIdempotent) {
  std::vector<std::string> args = {"--stream", "order-1", "--type", "Placed",
                                   "--data",   "{}",      "--id",   kId1};
  simdjson::dom::element first = AppendJson(args);
  const uint64_t position = first["position"];
  args.insert(args.end(), {"--expected-revision", "no_stream"});  // ignored for a retry
  simdjson::dom::element again = AppendJson(args);
  EXPECT_TRUE(bool(again["idempotent"]));
  EXPECT_EQ(uint64_t(again["position"]), position);
  EXPECT_EQ(uint64_t(again["firstRevision"]), 0u);

  args.pop_back();
  args.pop_back();
  CliResult r = Annals("append", args);
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("idempotent"));
}

TEST_F(CliTest, ReadingAStreamForwardsFromTheEndPrintsNothing) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Annals("append", {"--stream", "s", "--type", "T", "--data", "{}"}).exit_code, kOk);
  }
  CliResult r = Annals("read", {"--stream", "s", "--from", "end", "--json"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_EQ(JsonLines(r).size(), 0u) << r;
  r = Annals("read", {"--stream", "s", "--from", "end", "--backwards", "--json"});
  EXPECT_EQ(JsonLines(r).size(), 3u) << r;
  EXPECT_EQ(Annals("read", {"--stream", "nope", "--from", "end"}).exit_code, kNotFound);
  // `replay` read nullopt as the start too, and replayed the whole stream.
  r = Annals("replay", {"--stream", "s", "--from", "end", "--no-progress"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_EQ(Lines(r.out).size(), 0u) << r;
  r = Annals("replay", {"--from", "end", "--no-progress"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_EQ(Lines(r.out).size(), 0u) << r;
  EXPECT_EQ(Annals("replay", {"--stream", "nope", "--from", "end"}).exit_code, kNotFound);
}

TEST_F(CliTest, AnEmptyIdIsRefusedNotReplacedByARandomOne) {
  // `--id "$ID"` with $ID unset: a random id would make every retry append a duplicate.
  CliResult r =
      Annals("append", {"--stream", "order-1", "--type", "Placed", "--data", "{}", "--id", ""});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("--id"));
  EXPECT_EQ(Annals("read", {"--stream", "order-1"}).exit_code, kNotFound);
}

TEST_F(CliTest, IdUsedInAnotherStreamIsIdempotencyConflict) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}", "--id", kId1});
  CliResult r =
      Annals("append", {"--stream", "order-2", "--type", "Placed", "--data", "{}", "--id", kId1});
  EXPECT_EQ(r.exit_code, kIdempotency) << r;
  EXPECT_THAT(r.err, StartsWith("annals: idempotency_conflict: ")) << r;
}

TEST_F(CliTest, ExpectedRevisions) {
  auto append = [&](const std::string& expected) {
    return Annals("append", {"--stream", "order-1", "--type", "T", "--data", "{}",
                             "--expected-revision", expected});
  };
  EXPECT_EQ(append("stream_exists").exit_code, kWrongRevision);
  EXPECT_EQ(append("no_stream").exit_code, kOk);
  EXPECT_EQ(append("0").exit_code, kOk);
  EXPECT_EQ(append("stream_exists").exit_code, kOk);
  EXPECT_EQ(append("any").exit_code, kOk);

  CliResult r = append("1");  // the stream is at revision 3
  EXPECT_EQ(r.exit_code, kWrongRevision) << r;
  EXPECT_THAT(r.err, StartsWith("annals: wrong_expected_revision: "));
  EXPECT_THAT(r.err, HasSubstr("expected 1, actual 3"));
  EXPECT_EQ(Lines(r.err).size(), 1u);
  r = append("no_stream");
  EXPECT_EQ(r.exit_code, kWrongRevision) << r;
  EXPECT_EQ(append("3").exit_code, kOk);
}

TEST_F(CliTest, InvalidInputIsRefusedBeforeOpening) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--stream", "s", "--type", "T", "--data", "{}", "--id", "not-a-uuid"}, "--id: "},
           {{"--stream", "s", "--type", "T", "--data", "{}", "--id",
             "00000000-0000-0000-0000-000000000000"},
            "nil UUID"},
           {{"--stream", "s", "--type", "T", "--data", "{\"a\":"}, "--data: not valid JSON"},
           {{"--stream", "s", "--type", "T", "--data", "{}", "--metadata", "[1,"},
            "--metadata: not valid JSON"},
           {{"--stream", "s", "--type", "T", "--data", "{}", "--expected-revision", "-1"},
            "--expected-revision"},
           {{"--stream", "$system", "--type", "T", "--data", "{}"}, "--stream: "},
           {{"--stream", "", "--type", "T", "--data", "{}"}, "--stream: must not be empty"},
           {{"--stream", "s", "--type", "$T", "--data", "{}"}, "--type: "},
           {{"--stream", "s", "--type", "T", "--data", "x", "--content-type", "bad\ttype"},
            "--content-type"},
       }) {
    CliResult r = Annals("append", c.args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, StartsWith("annals: invalid_argument: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
  }
  EXPECT_FALSE(std::filesystem::exists(data()));
}

TEST_F(CliTest, OversizedEventIsTooLarge) {
  // 16 MiB is the default event limit: one byte more of data is refused.
  std::string big = "\"" + std::string((16u << 20) - 1, 'x') + "\"";
  std::string file = WriteTempFile(dir_.path() + "/big.json", big);
  CliResult r = Annals("append", {"--stream", "s", "--type", "T", "--data", "@" + file});
  EXPECT_EQ(r.exit_code, kTooLarge) << r.err;
  EXPECT_THAT(r.err, StartsWith("annals: too_large: "));
  EXPECT_FALSE(std::filesystem::exists(data()));
}

TEST_F(CliTest, DataFromFileAndStdin) {
  std::string file = WriteTempFile(dir_.path() + "/event.json", "{\"from\":\"file\"}\n");
  ASSERT_EQ(Annals("append", {"--stream", "s", "--type", "T", "--data", "@" + file}).exit_code,
            kOk);
  CliResult r =
      Annals("append", {"--stream", "s", "--type", "T", "--data", "-", "--metadata", "{\"m\":1}"},
             "{\"from\":\"stdin\"}");
  ASSERT_EQ(r.exit_code, kOk) << r;
  r = Annals("read", {"--stream", "s", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<simdjson::dom::element> events = JsonLines(r);
  ASSERT_EQ(events.size(), 2u) << r;
  EXPECT_EQ(std::string_view(events[0]["data"]["from"]), "file");
  EXPECT_EQ(std::string_view(events[1]["data"]["from"]), "stdin");
  EXPECT_EQ(int64_t(events[1]["metadata"]["m"]), 1);
  EXPECT_TRUE(events[0]["metadata"].is_null());

  r = Annals("append", {"--stream", "s", "--type", "T", "--data", "@/no/such/file"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("/no/such/file"));
  r = Annals("append", {"--stream", "s", "--type", "T", "--data", "-", "--metadata", "-"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
}

TEST_F(CliTest, RecoveryWarningsGoToStderrNotIntoJsonOutput) {
  ASSERT_EQ(Annals("append", {"--stream", "s", "--type", "T", "--data", "{}"}).exit_code, kOk);
  // An index RocksDB cannot open is rebuilt from the log at open, which warns.
  std::filesystem::remove(data() + "/index/CURRENT");
  CliResult r = Annals("read", {"--stream", "s", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.err, HasSubstr("rebuilding the index"));
  EXPECT_EQ(r.out.find("[warning]"), std::string::npos) << r.out;
  EXPECT_EQ(JsonLines(r).size(), 1u) << r;
}

TEST_F(CliTest, BinaryDataReadsBackAsBase64) {
  std::string file = WriteTempFile(dir_.path() + "/blob", std::string("\x00\xff\x10"
                                                                      "ab",
                                                                      5));
  ASSERT_EQ(Annals("append", {"--stream", "s", "--type", "Blob", "--content-type",
                              "application/octet-stream", "--data", "@" + file})
                .exit_code,
            kOk);
  CliResult r = Annals("read", {"--stream", "s", "--json"});
  std::vector<simdjson::dom::element> events = JsonLines(r);
  ASSERT_EQ(events.size(), 1u) << r;
  EXPECT_EQ(std::string_view(events[0]["contentType"]), "application/octet-stream");
  EXPECT_EQ(std::string_view(events[0]["data"]), "AP8QYWI=");
  r = Annals("read", {"--stream", "s"});
  EXPECT_THAT(r.out, HasSubstr("<5 bytes application/octet-stream>"));
}

// ---- read ----

TEST_F(CliTest, ReadJsonLinesHaveEveryField) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{\"total\":3,\"items\":[1,2]}",
              "--id", kId1, "--metadata", "{\"user\":\"ann\"}"});
  AppendJson({"--stream", "order-1", "--type", "Paid", "--data", "{}", "--id", kId2});
  CliResult r = Annals("read", {"--stream", "order-1", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<simdjson::dom::element> events = JsonLines(r);
  ASSERT_EQ(events.size(), 2u) << r;
  const simdjson::dom::element& e = events[0];
  EXPECT_EQ(std::string_view(e["id"]), kId1);
  EXPECT_EQ(std::string_view(e["stream"]), "order-1");
  EXPECT_EQ(std::string_view(e["type"]), "Placed");
  EXPECT_EQ(uint64_t(e["revision"]), 0u);
  EXPECT_EQ(uint64_t(e["position"]), uint64_t(parser_.parse(results_[0])["position"]));
  EXPECT_TRUE(std::regex_match(std::string(std::string_view(e["created"])),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << std::string_view(e["created"]);
  EXPECT_EQ(std::string_view(e["contentType"]), "application/json");
  EXPECT_EQ(int64_t(e["data"]["total"]), 3);
  EXPECT_EQ(simdjson::dom::array(e["data"]["items"]).size(), 2u);
  EXPECT_EQ(std::string_view(e["metadata"]["user"]), "ann");
  EXPECT_EQ(std::string_view(events[1]["id"]), kId2);
  EXPECT_EQ(uint64_t(events[1]["revision"]), 1u);
  EXPECT_GT(uint64_t(events[1]["position"]), uint64_t(e["position"]));
  EXPECT_GE(std::string_view(events[1]["created"]), std::string_view(e["created"]));
}

TEST_F(CliTest, ReadTable) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{\n  \"total\": 3\n}"});
  CliResult r = Annals("read", {"--stream", "order-1"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r;
  EXPECT_THAT(lines[0], HasSubstr("POSITION"));
  EXPECT_THAT(lines[1], HasSubstr("order-1"));
  EXPECT_THAT(lines[1], HasSubstr("Placed"));
  EXPECT_THAT(lines[1], HasSubstr("{ \"total\": 3 }"));  // one line, whitespace collapsed
}

TEST_F(CliTest, ReadMissingStreamIsNotFound) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}"});
  CliResult r = Annals("read", {"--stream", "order-404"});
  EXPECT_EQ(r.exit_code, kNotFound) << r;
  EXPECT_THAT(r.err, StartsWith("annals: not_found: "));
  EXPECT_TRUE(r.out.empty()) << r;
}

TEST_F(CliTest, TombstonedStreamIsDeleted) {
  {
    std::unique_ptr<Engine> engine = OpenInProcess();
    AppendInProcess(*engine, "order-1", 2);
    auto deleted = engine->DeleteStream("order-1", ExpectedRevision::Any(), DeleteMode::kTombstone);
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  }
  CliResult r = Annals("read", {"--stream", "order-1"});
  EXPECT_EQ(r.exit_code, kDeleted) << r;
  EXPECT_THAT(r.err, StartsWith("annals: stream_deleted: "));
  r = Annals("append", {"--stream", "order-1", "--type", "T", "--data", "{}"});
  EXPECT_EQ(r.exit_code, kDeleted) << r;

  r = Annals("streams", {"--json"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<simdjson::dom::element> streams = JsonLines(r);
  ASSERT_EQ(streams.size(), 1u) << r;
  EXPECT_EQ(std::string_view(streams[0]["state"]), "tombstoned");
  EXPECT_EQ(uint64_t(streams[0]["eventCount"]), 2u);
}

TEST_F(CliTest, PagesThroughLongStreamsUpToLimit) {
  {
    std::unique_ptr<Engine> engine = OpenInProcess();
    AppendInProcess(*engine, "big", 2500);
    AppendInProcess(*engine, "other", 10);
  }
  // Everything (more than one 1000-event page), in order.
  CliResult r = Annals("read", {"--stream", "big", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  std::vector<simdjson::dom::element> events = JsonLines(r);
  ASSERT_EQ(events.size(), 2500u);
  for (uint64_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(uint64_t(events[i]["revision"]), i);
    ASSERT_EQ(int64_t(events[i]["data"]["i"]), int64_t(i));
  }
  // --limit across a page boundary, forwards from a revision.
  r = Annals("read", {"--stream", "big", "--json", "--limit", "1500", "--from", "700"});
  events = JsonLines(r);
  ASSERT_EQ(events.size(), 1500u);
  EXPECT_EQ(uint64_t(events.front()["revision"]), 700u);
  EXPECT_EQ(uint64_t(events.back()["revision"]), 2199u);
  // Backwards from the end, and from a revision.
  r = Annals("read", {"--stream", "big", "--json", "--limit", "3", "--backwards"});
  events = JsonLines(r);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(uint64_t(events[0]["revision"]), 2499u);
  EXPECT_EQ(uint64_t(events[2]["revision"]), 2497u);
  r = Annals("read", {"--stream", "big", "--json", "--backwards", "--from", "1"});
  events = JsonLines(r);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(uint64_t(events[1]["revision"]), 0u);

  // $all: every event, positions strictly increasing; then paging by --from.
  r = Annals("read", {"--all", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  events = JsonLines(r);
  ASSERT_EQ(events.size(), 2510u);
  for (size_t i = 1; i < events.size(); ++i) {
    ASSERT_LT(uint64_t(events[i - 1]["position"]), uint64_t(events[i]["position"]));
  }
  const uint64_t p1234 = events[1234]["position"];
  r = Annals("read", {"--all", "--json", "--from", std::to_string(p1234), "--limit", "1200"});
  std::vector<simdjson::dom::element> page = JsonLines(r);
  ASSERT_EQ(page.size(), 1200u);
  EXPECT_EQ(uint64_t(page[0]["position"]), p1234);
  EXPECT_EQ(uint64_t(page[1199]["position"]), uint64_t(events[2433]["position"]));
  // Backwards from a position is exclusive.
  r = Annals("read",
             {"--all", "--json", "--backwards", "--from", std::to_string(p1234), "--limit", "2"});
  page = JsonLines(r);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(uint64_t(page[0]["position"]), uint64_t(events[1233]["position"]));
  EXPECT_EQ(uint64_t(page[1]["position"]), uint64_t(events[1232]["position"]));
}

TEST_F(CliTest, ReadAllFilters) {
  {
    std::unique_ptr<Engine> engine = OpenInProcess();
    AppendInProcess(*engine, "order-1", 3, "OrderPlaced");
    AppendInProcess(*engine, "order-2", 2, "OrderPaid");
    AppendInProcess(*engine, "invoice-1", 4, "InvoiceSent");
    StreamMetadata metadata;
    metadata.max_count = 10;
    ASSERT_TRUE(engine->SetStreamMetadata("order-1", ExpectedRevision::Any(), metadata).ok());
  }
  auto count = [&](std::vector<std::string> args) -> size_t {
    args.insert(args.begin(), {"--all", "--json"});
    CliResult r = Annals("read", args);
    EXPECT_EQ(r.exit_code, kOk) << r;
    return JsonLines(r).size();
  };
  EXPECT_EQ(count({}), 10u);  // 9 events and the $metadata event
  EXPECT_EQ(count({"--exclude-system"}), 9u);
  EXPECT_EQ(count({"--category", "order"}), 5u);
  EXPECT_EQ(count({"--stream-prefix", "order-2", "--stream-prefix", "invoice"}), 6u);
  EXPECT_EQ(count({"--type", "OrderPaid"}), 2u);
  EXPECT_EQ(count({"--type", "OrderPaid", "--type", "InvoiceSent"}), 6u);
  EXPECT_EQ(count({"--type-prefix", "Order"}), 5u);
  EXPECT_EQ(count({"--type-regex", "^(Invoice|Order)P.*"}), 5u);
  EXPECT_EQ(count({"--category", "order", "--type", "OrderPaid"}), 2u);
  EXPECT_EQ(count({"--type", "OrderPaid", "--limit", "1"}), 1u);
  EXPECT_EQ(count({"--type", "Nothing"}), 0u);

  CliResult r = Annals("read", {"--all", "--type-regex", "(unclosed"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
}

// ---- streams ----

TEST_F(CliTest, StreamsCatalog) {
  {
    std::unique_ptr<Engine> engine = OpenInProcess();
    AppendInProcess(*engine, "order-1", 3);
    AppendInProcess(*engine, "order-2", 1);
    AppendInProcess(*engine, "invoice-1", 2);
    ASSERT_TRUE(engine->DeleteStream("order-2", ExpectedRevision::Any(), DeleteMode::kSoft).ok());
  }
  CliResult r = Annals("streams", {"--json"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<simdjson::dom::element> streams = JsonLines(r);
  ASSERT_EQ(streams.size(), 3u) << r;
  EXPECT_EQ(std::string_view(streams[0]["name"]), "invoice-1");
  EXPECT_EQ(std::string_view(streams[1]["name"]), "order-1");
  EXPECT_EQ(std::string_view(streams[1]["state"]), "active");
  EXPECT_EQ(uint64_t(streams[1]["lastRevision"]), 2u);
  EXPECT_EQ(uint64_t(streams[1]["eventCount"]), 3u);
  EXPECT_EQ(std::string_view(streams[2]["state"]), "softDeleted");

  r = Annals("streams", {"--json", "--prefix", "order"});
  EXPECT_EQ(JsonLines(r).size(), 2u) << r;
  r = Annals("streams", {"--json", "--limit", "1"});
  EXPECT_EQ(JsonLines(r).size(), 1u) << r;
  r = Annals("streams", {"--json", "--include-system"});
  streams = JsonLines(r);
  ASSERT_EQ(streams.size(), 4u) << r;  // $$order-2 holds the soft delete's metadata
  EXPECT_EQ(std::string_view(streams[0]["name"]), "$$order-2");

  r = Annals("streams");
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r;
  EXPECT_THAT(lines[0], HasSubstr("LAST_REVISION"));
  EXPECT_THAT(lines[3], HasSubstr("softDeleted"));
}

// ---- input files and standard input ----

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;  // GCC
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;  // Clang
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

// Endless input used to be read to its end before the size check: `@/dev/zero` grew without
// bound. The address-space limit makes such a read fail fast instead of exhausting the host
// (not under AddressSanitizer, which reserves terabytes of address space for its shadow: there
// the time limit alone ends a binary that reads for ever).
TEST_F(CliTest, EndlessInputIsTooLargeAfterTheLimit) {
  const std::string memory_limit = kUnderAddressSanitizer ? "" : "ulimit -v 2097152; ";
  const std::string limited = memory_limit +
                              "exec timeout 60 \"$1\" append --data-dir \"$2\" "
                              "--stream s --type T --content-type application/octet-stream ";
  for (const std::string& input :
       {std::string("--data @/dev/zero"), std::string("--data - < /dev/zero"),
        std::string("--data x --metadata @/dev/zero")}) {
    CliResult r = RunShell(limited + input, data());
    EXPECT_EQ(r.exit_code, kTooLarge) << input << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: too_large: --")) << r;
    EXPECT_THAT(r.err, HasSubstr("16777216-byte limit")) << r;
    EXPECT_EQ(Lines(r.err).size(), 1u) << r;
  }
  EXPECT_FALSE(std::filesystem::exists(data()));
}

// A read error is not empty data: it used to append an empty event and exit 0.
TEST_F(CliTest, UnreadableInputIsRefusedAndNothingAppended) {
  const std::string folder = dir_.path() + "/folder";
  std::filesystem::create_directory(folder);
  struct Case {
    std::string script;
    std::string message;
  };
  const std::string append = "\"$1\" append --data-dir \"$2\" --stream s --type T ";
  for (const Case& c : std::vector<Case>{
           {append + "--data @" + folder, "--data: cannot read " + folder + ": Is a directory"},
           {append + "--data x --metadata @" + folder, "--metadata: cannot read " + folder},
           {append + "--data - <&-", "--data: cannot read standard input: Bad file descriptor"},
           {append + "--data - < " + folder, "--data: cannot read standard input: Is a directory"},
       }) {
    CliResult r = RunShell(c.script, data());
    EXPECT_EQ(r.exit_code, kUsage) << c.script << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: invalid_argument: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
  }
  EXPECT_FALSE(std::filesystem::exists(data()));
}

// ---- empty option values ----

// An empty value must not widen a command's scope (`--category "$C"` with C unset replayed
// the whole log) nor fall back to a default.
TEST_F(CliTest, EmptyOptionValuesAreRefused) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}"});
  const std::vector<std::vector<std::string>> cases = {
      {"read", "--all", "--category", ""},
      {"read", "--all", "--limit", ""},
      {"read", "--all", "--from", ""},
      {"read", "--all", "--stream-prefix", ""},
      {"read", "--all", "--type", ""},
      {"read", "--all", "--type-prefix", ""},
      {"read", "--all", "--type-regex", ""},
      {"read", "--all", "--stream-regex", ""},
      {"read", "--stream", ""},
      {"streams", "--limit", ""},
      {"streams", "--prefix", ""},
      {"replay", "--stream", ""},
      {"replay", "--category", ""},
      {"replay", "--type", ""},
      {"replay", "--stream-prefix", ""},
      {"replay", "--from", ""},
      {"replay", "--since", ""},
      {"replay", "--server", ""},
      {"replay", "--webhook", ""},
  };
  for (std::vector<std::string> args : cases) {
    const std::string command = args[0];
    args.erase(args.begin());
    CliResult r = Annals(command, args);
    EXPECT_EQ(r.exit_code, kUsage) << command << " " << args[0] << ": " << r;
    EXPECT_THAT(r.err, HasSubstr("must not be empty")) << r;
    EXPECT_TRUE(r.out.empty()) << r;
  }
  // --data-dir '' was not_found for the reading commands and usage for append.
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"read", "--all"},
           {"streams"},
           {"verify"},
           {"stats"},
           {"replay"},
           {"append", "--stream", "s", "--type", "T", "--data", "{}"}}) {
    args.insert(args.begin() + 1, {"--data-dir", ""});
    CliResult r = RunAnnals(args);
    EXPECT_EQ(r.exit_code, kUsage) << args[0] << ": " << r;
    EXPECT_THAT(r.err, HasSubstr("--data-dir: must not be empty")) << r;
  }
}

// ---- users ----

TEST_F(CliTest, UserNamesTheUsersFileCannotHoldAreRefused) {
  const std::string users = dir_.path() + "/users.toml";
  auto user = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "user");
    args.insert(args.end(), {"--users-file", users});
    return RunAnnals(args);
  };
  // Each of these used to be written, and then no `user` command (nor `serve`) could read
  // the file again.
  for (const std::string& name :
       {std::string(""), std::string("ann\nadmin"), std::string("tab\there"),
        std::string("bad\xff"), std::string("csi\xc2\x9b"), std::string("ann:1")}) {
    CliResult r = user({"add", name, "--password", "secret"});
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, HasSubstr("the name")) << r;
    EXPECT_FALSE(std::filesystem::exists(users)) << r;
  }
  CliResult r = user({"add-key", "key\n1"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_FALSE(std::filesystem::exists(users)) << r;
  // An empty stream prefix would allow every stream; empty option values are refused.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"add", "ann", "--password", "secret", "--stream", ""},
                                             {"add-key", "ci", "--stream", ""},
                                             {"add", "ann", "--password", ""}}) {
    r = user(args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, HasSubstr("must not be empty")) << r;
  }
  r = user({"remove", ""});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  r = RunAnnals({"user", "list", "--users-file", ""});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_FALSE(std::filesystem::exists(users));

  r = user({"add", "ann", "--password", "secret", "--stream", "order-"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  r = user({"list"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("ann"));
}

TEST_F(CliTest, AFailedUserAddLeavesNoTempFile) {
  // A directory where the file should be: the final rename fails after the temp file (with
  // the password hash) was written.
  const std::string users = dir_.path() + "/users-dir";
  std::filesystem::create_directory(users);
  CliResult r = RunAnnals({"user", "add", "ann", "--password", "secret", "--users-file", users});
  EXPECT_NE(r.exit_code, kOk) << r;
  EXPECT_FALSE(std::filesystem::exists(users + ".tmp")) << r;
}

// ---- directories that are not stores ----

TEST_F(CliTest, ReadingCommandsRefuseADirectoryThatIsNotAStore) {
  const std::string folder = dir_.path() + "/folder";
  std::filesystem::create_directory(folder);
  WriteTempFile(folder + "/notes.txt", "mine");
  for (std::string command : {"read", "streams", "verify", "stats", "replay"}) {
    std::vector<std::string> args = {command, "--data-dir", folder};
    if (command == "read") args.push_back("--all");
    CliResult r = RunAnnals(args);
    EXPECT_EQ(r.exit_code, kNotFound) << command << ": " << r;
    EXPECT_EQ(r.err,
              "annals: not_found: " + folder + " is not an Annals data directory (no MANIFEST)\n")
        << r;
  }
  // Nothing was created in it (the engine made LOCK, MANIFEST, index/ and log/).
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(names, ::testing::ElementsAre("notes.txt"));
  // A regular file is not a store either.
  CliResult r = RunAnnals({"stats", "--data-dir", folder + "/notes.txt"});
  EXPECT_EQ(r.exit_code, kNotFound) << r;

  // Only append creates a data directory, and only its help says so.
  for (std::string command : {"read", "streams", "verify", "stats", "replay"}) {
    r = RunAnnals({command, "--help"});
    EXPECT_EQ(r.exit_code, kOk) << r;
    EXPECT_THAT(r.out, Not(HasSubstr("created when missing"))) << command;
    EXPECT_THAT(r.out, HasSubstr("existing store")) << command;
  }
  r = RunAnnals({"append", "--help"});
  EXPECT_THAT(r.out, HasSubstr("created when missing"));
}

// ---- replay from a server ----

// A one-answer HTTP server on 127.0.0.1: every request gets `body` with status 200.
class FakeHttpServer {
 public:
  FakeHttpServer(std::string content_type, std::string body)
      : content_type_(std::move(content_type)), body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);  // ends the accept() below
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (true) {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: " + content_type_ +
                                 "\r\nContent-Length: " + std::to_string(body_.size()) +
                                 "\r\nConnection: close\r\n\r\n" + body_;
      EXPECT_EQ(::write(client, answer.data(), answer.size()), ssize_t(answer.size()));
      ::close(client);
    }
  }

  std::string content_type_, body_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// It used to replay nothing and exit 0: the head of a server it cannot read was taken as 0.
TEST_F(CliTest, ReplayRefusesAServerThatIsNotAnnals) {
  for (const auto& [content_type, body] : std::vector<std::pair<std::string, std::string>>{
           {"text/html", "<html><body>It works!</body></html>"},
           {"application/json", "{\"status\":\"ok\"}"},
           {"application/json", "[1,2,3]"}}) {
    FakeHttpServer server(content_type, body);
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"replay", "--server", server.url()},
             {"replay", "--server", server.url(), "--category", "order"},
             {"replay", "--server", server.url(), "--stream", "order-1"}}) {
      CliResult r = RunAnnals(args);
      EXPECT_EQ(r.exit_code, 1) << body << ": " << r;
      EXPECT_THAT(r.err, StartsWith("annals: internal: unexpected answer from the server")) << r;
      EXPECT_THAT(r.err, HasSubstr("/info")) << r;
      EXPECT_TRUE(r.out.empty()) << r;
    }
  }
}

// ---- verify, stats ----

TEST_F(CliTest, VerifyHealthyDirectory) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}"});
  AppendJson({"--stream", "order-2", "--type", "Placed", "--data", "{}"});
  CliResult r = Annals("verify");
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("ok: 2 events in 2 streams"));
}

TEST_F(CliTest, VerifyFindsAFlippedByte) {
  std::vector<uint64_t> positions;
  for (int i = 0; i < 3; ++i) {
    positions.push_back(
        AppendJson({"--stream", "order-1", "--type", "Placed", "--data",
                    "{\"payload\":\"" + std::string(100, 'a' + i) + "\"}"})["position"]);
  }
  // Segment 0 holds logical positions [0, segment size): a position is its file offset. Flip a
  // byte in the middle of the second record's body (its data).
  const std::string segment = annals::testing::SegmentPath(data(), 0);
  annals::testing::FlipByte(segment, positions[1] + 32 + 48 + 60);

  CliResult r = Annals("verify");
  EXPECT_EQ(r.exit_code, kCorruption) << r;
  EXPECT_THAT(r.err, StartsWith("annals: corruption: ")) << r;
  EXPECT_THAT(r.err, HasSubstr(std::to_string(positions[1]))) << r;
  EXPECT_EQ(Lines(r.err).size(), 1u) << r;
  // The index covers the damaged record, so opening does not read it: reading before the
  // damage works, reading across it fails (the store refuses the whole page that holds it).
  r = Annals("read", {"--stream", "order-1", "--limit", "1", "--json"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_EQ(JsonLines(r).size(), 1u) << r;
  r = Annals("read", {"--all", "--json"});
  EXPECT_EQ(r.exit_code, kCorruption) << r;
  EXPECT_THAT(r.err, HasSubstr(std::to_string(positions[1]))) << r;
}

// The store refuses a whole page that holds a damaged record: `read` used to print nothing.
TEST_F(CliTest, ReadPrintsTheEventsBeforeADamagedRecord) {
  const std::vector<uint64_t> positions = AppendThreeAndDamageTheSecond();
  struct Case {
    std::vector<std::string> args;
    uint64_t printed;  // the position of the one event before the damage
  };
  for (const Case& c : std::vector<Case>{
           {{"--all", "--limit", "3", "--json"}, positions[0]},
           {{"--all", "--json"}, positions[0]},
           {{"--all", "--category", "order", "--json"}, positions[0]},
           {{"--all", "--backwards", "--json"}, positions[2]},
           {{"--stream", "order-1", "--json"}, positions[0]},
           {{"--stream", "order-1", "--backwards", "--json"}, positions[2]},
       }) {
    CliResult r = Annals("read", c.args);
    EXPECT_EQ(r.exit_code, kCorruption) << r;
    std::vector<simdjson::dom::element> events = JsonLines(r);
    ASSERT_EQ(events.size(), 1u) << r;
    EXPECT_EQ(uint64_t(events[0]["position"]), c.printed) << r;
    EXPECT_THAT(r.err, StartsWith("annals: corruption: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(std::to_string(positions[1]))) << r;
    EXPECT_EQ(Lines(r.err).size(), 1u) << r;
  }
  // The table too: its header, then the event.
  CliResult r = Annals("read", {"--all"});
  EXPECT_EQ(r.exit_code, kCorruption) << r;
  EXPECT_EQ(Lines(r.out).size(), 2u) << r;
}

// `replay` too: it printed nothing before the damaged record's error.
TEST_F(CliTest, ReplayPrintsTheEventsBeforeADamagedRecord) {
  const std::vector<uint64_t> positions = AppendThreeAndDamageTheSecond();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--no-progress"},
        std::vector<std::string>{"--stream", "order-1", "--no-progress"},
        std::vector<std::string>{"--category", "order", "--no-progress"}}) {
    CliResult r = Annals("replay", args);
    EXPECT_EQ(r.exit_code, kCorruption) << r;
    std::vector<simdjson::dom::element> events = JsonLines(r);
    ASSERT_EQ(events.size(), 1u) << r;
    EXPECT_EQ(uint64_t(events[0]["position"]), positions[0]) << r;
    EXPECT_THAT(r.err, HasSubstr(std::to_string(positions[1]))) << r;
  }
}

TEST_F(CliTest, MidLogDamageFoundAtOpenFollowsTheCorruptionPolicy) {
  const std::vector<uint64_t> positions = AppendThreeAndDamageTheSecond();
  // The index is derived from the log: without it, opening replays the whole log and meets
  // the damage, with an intact record after it.
  std::filesystem::remove_all(data() + "/index");

  // Policy fail (the default): every command refuses to open, naming where the damage is.
  for (std::string command : {"streams", "verify", "stats"}) {
    CliResult r = Annals(command);
    EXPECT_EQ(r.exit_code, kCorruption) << command << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: corruption: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(std::to_string(positions[1]))) << r;
  }
  // Policy truncate: the segment is copied to quarantine/ and the log cut before the damage.
  CliResult r = Annals("verify", {"--corruption-policy", "truncate"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  EXPECT_FALSE(std::filesystem::is_empty(data() + "/quarantine"));
  r = Annals("read", {"--stream", "order-1", "--json"});
  EXPECT_EQ(r.exit_code, kOk) << r;
  ASSERT_EQ(JsonLines(r).size(), 1u) << r;
  EXPECT_EQ(Annals("verify").exit_code, kOk);
}

TEST_F(CliTest, StatsReportsDurabilityAndSize) {
  AppendJson({"--stream", "order-1", "--type", "Placed", "--data", "{}"});
  CliResult r = Annals("stats", {"--json", "--durability", "unsafe-no-sync"});
  ASSERT_EQ(r.exit_code, kOk) << r;
  std::vector<simdjson::dom::element> docs = JsonLines(r);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(std::string_view(docs[0]["durability"]), "unsafe-no-sync");
  EXPECT_EQ(std::string_view(docs[0]["dataDir"]), data());
  EXPECT_GT(uint64_t(docs[0]["head"]), 0u);
  EXPECT_GE(uint64_t(docs[0]["segments"]), 1u);
  EXPECT_GT(uint64_t(docs[0]["dataDirBytes"]), 0u);
  EXPECT_GT(uint64_t(docs[0]["dataDirFiles"]), 0u);

  r = Annals("stats");
  ASSERT_EQ(r.exit_code, kOk) << r;
  EXPECT_THAT(r.out, HasSubstr("durability"));
  EXPECT_THAT(r.out, HasSubstr("fsync"));
}

// ---- serve and migrate start-up ----

// `annals serve` with a deadline: the old binary started serving where it had to refuse.
CliResult Serve(std::vector<std::string> args) {
  args.insert(args.begin(), {"5", annals::testing::AnnalsBinary(), "serve"});
  return annals::testing::RunProgram("/usr/bin/timeout", args);
}

TEST_F(CliTest, ServeStartUpFailuresUseTheCliExitCodes) {
  // Malformed values exit 2 (docs/configuration.md); they used to exit 1, or for a log level
  // start with logging off.
  CliResult r = Serve({"--store", "memory", "--http", "127.0.0.1:99999"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("127.0.0.1:99999")) << r;
  r = Serve({"--store", "memory", "--http", "bad", "--insecure"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  r = Serve({"--store", "memory", "--http", "127.0.0.1:0", "--log-level", "loud"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("trace, debug, info, warn, error")) << r;
  EXPECT_THAT(r.err, HasSubstr("'loud'")) << r;
  r = Serve({"--store", "postgres://x@127.0.0.1:1/db?sslmode=bogus", "--secrets-key-file",
             dir_.path() + "/key", "--http", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("sslmode")) << r;
  r = Serve({"--data-dir", "", "--http", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  // A data directory in use: 9, as for every other command (it was 1).
  std::unique_ptr<Engine> holder = OpenInProcess();
  r = Serve({"--data-dir", data(), "--http", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, kUnavailable) << r;
  EXPECT_THAT(r.err, HasSubstr("unavailable")) << r;
  EXPECT_THAT(r.err, HasSubstr("in use by another process")) << r;
}

TEST_F(CliTest, MigrateRefusesAMalformedUriWithoutConnecting) {
  for (const std::string& uri : {
           std::string("postgres://x@127.0.0.1:1/db?sslmode=bogus"),
           std::string("postgres://%zz@127.0.0.1:1/db"),
           std::string("postgresql://x@127.0.0.1:1/db?no_such_parameter=1"),
           std::string("postgres://x@127.0.0.1:1/db?connect_timeout=soon"),
           std::string("postgres://x@127.0.0.1:99999/db"),
       }) {
    CliResult r = RunAnnals({"migrate", "--store", uri});
    EXPECT_EQ(r.exit_code, kUsage) << uri << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: invalid_argument: --store: ")) << r;
  }
  // Well formed, nobody listening: unavailable.
  CliResult r = RunAnnals({"migrate", "--store", "postgres://x@127.0.0.1:1/db?sslmode=disable"});
  EXPECT_EQ(r.exit_code, kUnavailable) << r;
}

// ---- standard output ----

// docs/cli.md: the reader of a pipe going away ends `annals` by SIGPIPE (exit 141 in the
// shell), as other Unix tools; any other failed write is exit 10.
TEST_F(CliTest, StdoutThatCannotBeWritten) {
  {
    std::unique_ptr<Engine> engine = OpenInProcess();
    AppendInProcess(*engine, "order-1", 3000);  // more than a pipe buffer holds
  }
  const std::string read = "\"$1\" read --data-dir \"$2\" --all --json";
  CliResult r = RunShell(read + " | head -1 > /dev/null; echo \"${PIPESTATUS[0]}\"", data());
  EXPECT_EQ(r.out, "141\n") << r;
  r = RunShell(read + " > /dev/full", data());
  EXPECT_EQ(r.exit_code, kIoError) << r;
  EXPECT_EQ(r.err, "annals: io_error: cannot write to standard output\n") << r;
  // A closed stdout: the number 1 was the next descriptor opened, the data directory's LOCK
  // file, which received the output.
  r = RunShell(read + " >&-", data());
  EXPECT_EQ(r.exit_code, kIoError) << r;
  std::ifstream lock(data() + "/LOCK");
  std::string holder((std::istreambuf_iterator<char>(lock)), std::istreambuf_iterator<char>());
  EXPECT_EQ(holder.find("order-1"), std::string::npos) << holder.substr(0, 200);
  r = RunShell(read + " <&- >&-", data());
  EXPECT_EQ(r.exit_code, kIoError) << r;
  EXPECT_EQ(Annals("verify").exit_code, kOk);
}

// ---- another process ----

TEST_F(CliTest, LockedDataDirIsUnavailable) {
  std::unique_ptr<Engine> holder = OpenInProcess();
  for (std::string command : {"append", "read", "streams", "verify", "stats"}) {
    std::vector<std::string> args;
    if (command == "append") args = {"--stream", "s", "--type", "T", "--data", "{}"};
    if (command == "read") args = {"--all"};
    CliResult r = Annals(command, args);
    EXPECT_EQ(r.exit_code, kUnavailable) << command << ": " << r;
    EXPECT_THAT(r.err, StartsWith("annals: unavailable: ")) << r;
    EXPECT_THAT(r.err, HasSubstr("in use by another process")) << r;
  }
  holder.reset();
  EXPECT_EQ(Annals("streams").exit_code, kOk);
}

// ---- a full disk ----

// RocksDB's own log file kept writing after a failed write, and Debian's RocksDB keeps its
// assertions: on a full disk every command aborted (exit 134). Now each says what happened,
// and the store is whole once there is room again.
TEST_F(CliTest, AFullDiskIsAnIoErrorAndLosesNothing) {
  annals::testing::SmallFilesystem small(dir_.path() + "/small", "96m");
  if (!small.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  const std::string store = dir_.path() + "/small/data";
  {
    EngineOptions options;
    options.data_dir = store;
    options.segment_bytes = 80 << 20;  // holds the largest append (64 MiB)
    auto engine = OpenEngine(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    AppendInProcess(**engine, "kept-1", 16);
  }
  const std::string filler = dir_.path() + "/small/filler";
  annals::testing::SmallFilesystem::Fill(filler);
  for (std::string command : {"append", "read", "streams", "verify", "stats"}) {
    std::vector<std::string> args = {command, "--data-dir", store};
    if (command == "append")
      args.insert(args.end(), {"--stream", "s", "--type", "T", "--data", "{}"});
    if (command == "read") args.insert(args.end(), {"--stream", "kept-1"});
    CliResult r = RunAnnals(args);
    EXPECT_EQ(r.exit_code, kIoError) << command << ": " << r;
    EXPECT_THAT(r.err, HasSubstr("annals: io_error: ")) << r;
    EXPECT_THAT(r.err, HasSubstr("No space left on device")) << r;
  }
  std::filesystem::remove(filler);
  CliResult verified = RunAnnals({"verify", "--data-dir", store});
  EXPECT_EQ(verified.exit_code, kOk) << verified;
  EXPECT_THAT(verified.out, HasSubstr("ok: 16 events in 1 streams")) << verified;
  CliResult read = RunAnnals({"read", "--data-dir", store, "--stream", "kept-1", "--json"});
  EXPECT_EQ(read.exit_code, kOk) << read;
  EXPECT_EQ(Lines(read.out).size(), 16u) << read;
}

}  // namespace
}  // namespace annals
