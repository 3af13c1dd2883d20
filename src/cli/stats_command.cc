// `annals stats`: the engine's counters, the durability mode and the data directory's size.
#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/json_writer.h"

namespace annals::cli {
namespace {

struct StatsOptions {
  EngineFlags engine;
  bool json = false;
};

struct DirSize {
  uint64_t bytes = 0;            // apparent: what `ls -l` adds up (segments are preallocated)
  uint64_t allocated_bytes = 0;  // blocks on disk: what `du` reports
  uint64_t files = 0;
};

// Sums the regular files under `path`. Files that vanish during the walk (RocksDB compactions
// of another process cannot happen: the directory is locked) are skipped, not errors.
Result<DirSize> MeasureDirectory(const std::string& path) {
  namespace fs = std::filesystem;
  DirSize size;
  std::error_code ec;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    size.bytes += static_cast<uint64_t>(st.st_size);
    size.allocated_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    ++size.files;
  }
  if (ec) {
    return Status(StatusCode::kIoError, fmt::format("cannot list {}: {}", path, ec.message()));
  }
  return size;
}

void RunStats(const StatsOptions& options) {
  std::unique_ptr<Engine> engine = OpenEngineOrFail(options.engine);
  const EngineStats stats = engine->Stats();
  Result<DirSize> size = MeasureDirectory(options.engine.data_dir);
  if (!size.ok()) Fail(size.status());

  if (options.json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("dataDir");
    w.String(options.engine.data_dir);
    w.Key("durability");
    w.String(DurabilityName(stats.durability));
    w.Key("head");
    w.Uint(stats.head.value);
    w.Key("segments");
    w.Uint(stats.segments);
    w.Key("recoveredRecords");
    w.Uint(stats.recovered_records);
    w.Key("truncatedBytes");
    w.Uint(stats.truncated_bytes);
    w.Key("eventsAppended");
    w.Uint(stats.events_appended);
    w.Key("bytesAppended");
    w.Uint(stats.bytes_appended);
    w.Key("appends");
    w.Uint(stats.appends);
    w.Key("groupCommits");
    w.Uint(stats.group_commits);
    w.Key("fsyncs");
    w.Uint(stats.fsyncs);
    w.Key("dataDirBytes");
    w.Uint(size->bytes);
    w.Key("dataDirAllocatedBytes");
    w.Uint(size->allocated_bytes);
    w.Key("dataDirFiles");
    w.Uint(size->files);
    w.EndObject();
    std::cout << w.str() << '\n';
    return;
  }
  auto line = [](std::string_view name, const auto& value) {
    std::cout << fmt::format("{:<26}{}\n", name, value);
  };
  line("data dir", options.engine.data_dir);
  line("durability", DurabilityName(stats.durability));
  line("head position", stats.head.value);
  line("segments", stats.segments);
  line("recovered records", stats.recovered_records);
  line("truncated bytes", stats.truncated_bytes);
  line("events appended", stats.events_appended);
  line("bytes appended", stats.bytes_appended);
  line("appends", stats.appends);
  line("group commits", stats.group_commits);
  line("fsyncs", stats.fsyncs);
  line("data dir bytes", size->bytes);
  line("data dir allocated bytes", size->allocated_bytes);
  line("data dir files", size->files);
}

}  // namespace

void AddStatsCommand(CLI::App& app) {
  auto options = std::make_shared<StatsOptions>();
  CLI::App* command =
      app.add_subcommand("stats", "Engine counters, durability mode and data directory size");
  AddEngineFlags(command, &options->engine);
  command->add_flag("--json", options->json, "Print one JSON object");
  command->callback([options] { RunStats(*options); });
}

}  // namespace annals::cli
