// What every `annals` subcommand shares: the data-directory options and opening the engine,
// the error line and exit code of each failure, and the text forms of events and streams.
//
// A command reports a failure by calling Fail(): it prints one line to stderr,
//   annals: <kind>: <message>
// and ends the command with the kind's exit code (docs/cli.md lists them). Run() turns that,
// and every CLI11 parse error, into main's return value.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "annals/engine.h"
#include "annals/event_store.h"
#include "annals/status.h"
#include "annals/types.h"

namespace annals::cli {

// Exit codes, one per kind of failure a caller (a script) would react to differently.
// Documented in docs/cli.md; they are an external interface: never renumber.
enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,          // internal errors and anything not listed below
  kExitUsage = 2,          // bad command line or invalid input (name, id, JSON, number)
  kExitWrongRevision = 3,  // --expected-revision did not match the stream
  kExitNotFound = 4,       // no such stream
  kExitDeleted = 5,        // the stream is tombstoned
  kExitIdempotency = 6,    // the event id was already used differently
  kExitTooLarge = 7,       // an event or an append over its size limit
  kExitCorruption = 8,     // damaged data (checksum or consistency), including at open
  kExitUnavailable = 9,    // the data directory is in use by another process, or shutting down
  kExitIoError = 10,       // the operating system refused a read, write or sync
};

// The exit code for a failure of this kind (kOk maps to 0).
int ExitCodeFor(StatusCode code);

// Thrown by Fail and FailUsage once the error line is printed; Run() returns its code.
struct CommandFailed {
  int exit_code;
};

// Prints `annals: <StatusCodeName>: <message>` to stderr and ends the command.
[[noreturn]] void Fail(const Status& status);
// Prints `annals: usage: <message>` to stderr and ends the command with kExitUsage.
[[noreturn]] void FailUsage(std::string_view message);

// Parses the command line and runs the chosen subcommand's callback. Returns the exit code:
// 0, the code of a Fail(), kExitUsage for a parse error (after printing it), 0 for --help.
int Run(CLI::App& app, int argc, char** argv);

// --data-dir, --durability and --corruption-policy, shared by every command that opens a
// data directory.
struct EngineFlags {
  std::string data_dir = "./data";
  std::string durability = "fsync";
  std::string corruption_policy = "fail";
};
// Whether opening may create a missing data directory: only `append` writes, so a mistyped
// --data-dir given to a reading command is reported (kNotFound) instead of becoming a new,
// empty store.
enum class OpenMode : uint8_t { kCreateIfMissing, kMustExist };
// `mode` is how the command opens the directory: its --data-dir help says so.
void AddEngineFlags(CLI::App* command, EngineFlags* flags, OpenMode mode = OpenMode::kMustExist);
EngineOptions ToEngineOptions(const EngineFlags& flags);
// Opens the data directory; Fail()s when it cannot (missing, locked, damaged, unreadable).
// kMustExist also refuses (kNotFound) a directory that holds no Annals store (no MANIFEST),
// creating nothing in it: the engine would otherwise turn any directory into a store.
std::unique_ptr<Engine> OpenEngineOrFail(const EngineFlags& flags,
                                         OpenMode mode = OpenMode::kMustExist);

// For every option whose empty value would silently mean "no filter" or "the default"
// (`--category "$C"` with C unset must not replay the whole log): CLI11 refuses the empty
// value as a usage error, "<option>: must not be empty".
const CLI::Validator& NonEmpty();

// The text of an option that takes data: the argument itself, `-` for standard input, or
// `@path` for a file's contents. Reads at most `max_bytes` + 1 bytes, so endless input
// (`@/dev/zero`) ends too: Fail()s with kTooLarge beyond `max_bytes`, with kInvalidArgument
// when the file cannot be opened or read (a directory, a closed standard input).
std::string ReadInputArg(const std::string& arg, std::string_view option, uint64_t max_bytes);

std::string_view DurabilityName(Durability durability);
// "active", "softDeleted", "tombstoned" (as the HTTP API spells them).
std::string_view StreamStateName(StreamState state);

// One event as a JSON object (no newline): {"id","stream","type","revision","position",
// "created","contentType","data","metadata"}. JSON data is inline (null when empty), other
// content types are a base64 string; metadata is inline, null when empty.
std::string EventJson(const RecordedEvent& event);
// One stream as a JSON object: {"name","state","lastRevision","eventCount","lastPosition",
// "created","lastUpdated"}; the last four are null for a stream that never had an event.
std::string StreamInfoJson(const StreamInfo& info);

// A one-line preview of an event's data for tables: compact JSON text cut to `max_chars`
// (never inside a UTF-8 sequence), control characters shown as spaces; other content types
// as "<N bytes content/type>".
std::string DataPreview(const RecordedEvent& event, size_t max_chars);

}  // namespace annals::cli
