#include "cli/cli_common.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "core/base64.h"
#include "core/json_writer.h"
#include "core/rfc3339.h"

namespace annals::cli {

int ExitCodeFor(StatusCode code) {
  // The one table from status codes to exit codes; docs/cli.md repeats it.
  switch (code) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kWrongExpectedRevision:
      return kExitWrongRevision;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kStreamDeleted:
      return kExitDeleted;
    case StatusCode::kIdempotencyConflict:
      return kExitIdempotency;
    case StatusCode::kTooLarge:
      return kExitTooLarge;
    case StatusCode::kCorruption:
      return kExitCorruption;
    case StatusCode::kUnavailable:
      return kExitUnavailable;
    case StatusCode::kIoError:
      return kExitIoError;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kInternal:
    case StatusCode::kUnimplemented:
      return kExitOther;
  }
  return kExitOther;
}

namespace {

// One line, whatever the message holds: a multi-line message would break `annals ... 2>&1 |
// grep` style handling and the "one line per error" promise of docs/cli.md.
std::string OneLine(std::string_view text) {
  std::string out(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

void Fail(const Status& status) {
  std::cout.flush();  // what was printed before the failure comes first
  std::cerr << "annals: " << StatusCodeName(status.code()) << ": " << OneLine(status.message())
            << std::endl;
  throw CommandFailed{status.ok() ? kExitOther : ExitCodeFor(status.code())};
}

void FailUsage(std::string_view message) {
  std::cout.flush();
  std::cerr << "annals: usage: " << OneLine(message) << std::endl;
  throw CommandFailed{kExitUsage};
}

int Run(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CommandFailed& failed) {
    return failed.exit_code;
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "annals: usage: " << OneLine(e.what()) << " (see annals --help)" << std::endl;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "annals: internal: " << OneLine(e.what()) << std::endl;
    return kExitOther;
  }
  std::cout.flush();
  if (!std::cout) {
    // A closed pipe or a full disk: the output is incomplete, which a script must learn.
    std::cerr << "annals: io_error: cannot write to standard output" << std::endl;
    return kExitIoError;
  }
  return kExitOk;
}

const CLI::Validator& NonEmpty() {
  // An empty description keeps the help text free of a validator name.
  static const CLI::Validator validator(
      [](const std::string& value) {
        return value.empty() ? std::string("must not be empty") : std::string();
      },
      "");
  return validator;
}

void AddEngineFlags(CLI::App* command, EngineFlags* flags, OpenMode mode) {
  command
      ->add_option("--data-dir", flags->data_dir,
                   mode == OpenMode::kCreateIfMissing
                       ? "Data directory (created when missing)"
                       : "Data directory of an existing store (append creates one)")
      ->check(NonEmpty())
      ->capture_default_str();
  command
      ->add_option("--durability", flags->durability,
                   "fsync: an acknowledged append is on disk; unsafe-no-sync: in the OS page "
                   "cache only (development)")
      ->check(CLI::IsMember({"fsync", "unsafe-no-sync"}))
      ->capture_default_str();
  command
      ->add_option("--corruption-policy", flags->corruption_policy,
                   "Damage before the end of the log: fail (refuse to open) or truncate "
                   "(quarantine the segment and cut the log before the damage; events after it "
                   "are lost)")
      ->check(CLI::IsMember({"fail", "truncate"}))
      ->capture_default_str();
}

EngineOptions ToEngineOptions(const EngineFlags& flags) {
  EngineOptions options;
  options.data_dir = flags.data_dir;
  options.durability =
      flags.durability == "unsafe-no-sync" ? Durability::kUnsafeNoSync : Durability::kFsync;
  options.corruption_policy = flags.corruption_policy == "truncate"
                                  ? CorruptionPolicy::kTruncateAndQuarantine
                                  : CorruptionPolicy::kFail;
  // One short-lived process: a small cache is plenty and starts faster.
  options.index_cache_bytes = 16ull << 20;
  return options;
}

namespace {

// The file every Annals data directory holds from its creation on (the engine's DataDir writes
// it, src/engine/data_dir.cc, before any log or index exists).
constexpr char kManifestName[] = "MANIFEST";

// Fail()s (kNotFound) unless `dir` exists and holds a manifest. Other stat errors (a
// permission refused) are left to the engine, whose open reports them as I/O errors.
void RequireExistingStore(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec) && !ec) {
    Fail(Status(StatusCode::kNotFound,
                fmt::format("data directory {} does not exist (append creates one)", dir)));
  }
  const std::string manifest = (std::filesystem::path(dir) / kManifestName).string();
  struct stat st;
  if (::stat(manifest.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    Fail(Status(StatusCode::kNotFound,
                fmt::format("{} is not an Annals data directory (no {})", dir, kManifestName)));
  }
}

}  // namespace

std::unique_ptr<Engine> OpenEngineOrFail(const EngineFlags& flags, OpenMode mode) {
  if (mode == OpenMode::kMustExist) RequireExistingStore(flags.data_dir);
  Result<std::unique_ptr<Engine>> engine = OpenEngine(ToEngineOptions(flags));
  if (!engine.ok()) Fail(engine.status());
  return std::move(engine).value();
}

namespace {

// Reads `fd` to its end, `source` naming it in messages. Stops after `max_bytes` + 1 bytes:
// holding more would only be refused later, and endless input would never end.
std::string ReadBounded(int fd, const std::string& source, std::string_view option,
                        uint64_t max_bytes) {
  std::string text;
  char buffer[64 << 10];
  while (true) {
    const uint64_t wanted = std::min<uint64_t>(sizeof buffer, max_bytes + 1 - text.size());
    const ssize_t got = ::read(fd, buffer, wanted);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      // Empty data is valid input: a failed read must never pass for it.
      Fail(Status(StatusCode::kInvalidArgument,
                  fmt::format("{}: cannot read {}: {}", option, source, std::strerror(errno))));
    }
    if (got == 0) return text;
    text.append(buffer, static_cast<size_t>(got));
    if (text.size() > max_bytes) {
      Fail(Status(StatusCode::kTooLarge,
                  fmt::format("{}: {} is more than the {}-byte limit of an event's data and "
                              "metadata",
                              option, source, max_bytes)));
    }
  }
}

}  // namespace

std::string ReadInputArg(const std::string& arg, std::string_view option, uint64_t max_bytes) {
  if (arg == "-") return ReadBounded(STDIN_FILENO, "standard input", option, max_bytes);
  if (arg.empty() || arg[0] != '@') return arg;
  const std::string path = arg.substr(1);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail(Status(StatusCode::kInvalidArgument,
                fmt::format("{}: cannot open {}: {}", option, path, std::strerror(errno))));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return ReadBounded(fd, path, option, max_bytes);
}

std::string_view DurabilityName(Durability durability) {
  switch (durability) {
    case Durability::kFsync:
      return "fsync";
    case Durability::kUnsafeNoSync:
      return "unsafe-no-sync";
  }
  return "unknown";
}

std::string_view StreamStateName(StreamState state) {
  switch (state) {
    case StreamState::kActive:
      return "active";
    case StreamState::kSoftDeleted:
      return "softDeleted";
    case StreamState::kTombstoned:
      return "tombstoned";
  }
  return "unknown";
}

namespace {

// Stored JSON is copied as it came, but JSON Lines needs one line per event. In valid JSON a
// line break can only be insignificant whitespace (strings cannot hold raw control
// characters), so turning it into a space keeps the value and the bytes' meaning.
void RawOneLine(JsonWriter& w, std::string_view json) {
  if (json.find_first_of("\r\n") == std::string_view::npos) {
    w.Raw(json);
    return;
  }
  std::string line(json);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  w.Raw(line);
}

}  // namespace

std::string EventJson(const RecordedEvent& e) {
  JsonWriter w;
  w.Reserve(e.data.size() + e.metadata.size() + 256);
  w.BeginObject();
  w.Key("id");
  w.String(e.id.ToString());
  w.Key("stream");
  w.String(e.stream);
  w.Key("type");
  w.String(e.type);
  w.Key("revision");
  w.Uint(e.revision.value);
  w.Key("position");
  w.Uint(e.position.value);
  w.Key("created");
  w.String(FormatRfc3339(e.created));
  w.Key("contentType");
  w.String(e.content_type);
  w.Key("data");
  if (!e.IsJson()) {
    w.String(Base64Encode(e.data));
  } else if (e.data.empty()) {
    w.Null();
  } else {
    // Validated as JSON on append, so copied byte for byte (but for line breaks).
    RawOneLine(w, e.data);
  }
  w.Key("metadata");
  if (e.metadata.empty()) {
    w.Null();
  } else {
    RawOneLine(w, e.metadata);
  }
  w.EndObject();
  return w.Take();
}

std::string StreamInfoJson(const StreamInfo& info) {
  JsonWriter w;
  w.BeginObject();
  w.Key("name");
  w.String(info.name);
  w.Key("state");
  w.String(StreamStateName(info.state));
  w.Key("lastRevision");
  if (info.last_revision) {
    w.Uint(info.last_revision->value);
  } else {
    w.Null();
  }
  w.Key("eventCount");
  w.Uint(info.event_count);
  const bool any = info.event_count > 0;
  w.Key("lastPosition");
  any ? w.Uint(info.last_position.value) : w.Null();
  w.Key("created");
  any ? w.String(FormatRfc3339(info.created)) : w.Null();
  w.Key("lastUpdated");
  any ? w.String(FormatRfc3339(info.last_updated)) : w.Null();
  w.EndObject();
  return w.Take();
}

std::string DataPreview(const RecordedEvent& event, size_t max_chars) {
  if (!event.IsJson()) {
    return fmt::format("<{} bytes {}>", event.data.size(), event.content_type);
  }
  std::string out;
  out.reserve(std::min(event.data.size(), max_chars) + 3);
  bool truncated = false;
  // Line breaks and the indentation after them (pretty-printed JSON) become one space.
  bool pending_space = false;
  for (char c : event.data) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      pending_space = true;
      continue;
    }
    if (pending_space && c == ' ') continue;
    if (out.size() >= max_chars) {
      truncated = true;
      break;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  if (truncated) {
    // Step back to the start of a UTF-8 sequence so the cut never splits a character.
    size_t cut = out.size();
    while (cut > 0 && (static_cast<unsigned char>(out[cut - 1]) & 0xc0) == 0x80) --cut;
    if (cut > 0 && static_cast<unsigned char>(out[cut - 1]) >= 0xc0) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

}  // namespace annals::cli
