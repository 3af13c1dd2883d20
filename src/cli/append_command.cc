// `annals append`: appends one event to one stream.
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "cli/cli_common.h"
#include "cli/cli_input.h"
#include "cli/commands.h"
#include "core/json_writer.h"

namespace annals::cli {
namespace {

struct AppendOptions {
  EngineFlags engine;
  std::string stream;
  std::string type;
  std::string data;
  std::string metadata;
  std::optional<std::string> id;  // --id, when given
  std::string content_type = std::string(kContentTypeJson);
  std::string expected = "any";
  bool json = false;
};

void RunAppend(const AppendOptions& options) {
  if (options.data == "-" && options.metadata == "-") {
    FailUsage("--data and --metadata cannot both read standard input");
  }
  AppendArgs args;
  args.stream = options.stream;
  args.type = options.type;
  args.content_type = options.content_type;
  // Each input alone may fill the event; ValidateAppend then checks their sum.
  const Limits limits = EngineOptions().limits;
  args.data = ReadInputArg(options.data, "--data", limits.max_event_bytes);
  args.metadata = ReadInputArg(options.metadata, "--metadata", limits.max_event_bytes);
  args.id = options.id;
  args.expected = options.expected;
  // Invalid input is refused before the data directory is opened (or created).
  Result<AppendRequest> request = BuildAppendRequest(args, limits);
  if (!request.ok()) Fail(request.status());

  std::unique_ptr<Engine> engine = OpenEngineOrFail(options.engine, OpenMode::kCreateIfMissing);
  Result<AppendResult> result = engine->Append(*request);
  if (!result.ok()) Fail(result.status());
  engine->Close();

  const std::string id = request->events[0].id->ToString();
  if (options.json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("stream");
    w.String(request->stream);
    w.Key("id");
    w.String(id);
    w.Key("firstRevision");
    w.Uint(result->first_revision.value);
    w.Key("lastRevision");
    w.Uint(result->last_revision.value);
    w.Key("position");
    w.Uint(result->position.value);
    w.Key("idempotent");
    w.Bool(result->idempotent);
    w.EndObject();
    std::cout << w.str() << '\n';
    return;
  }
  std::cout << fmt::format(
      "appended to '{}': first revision {}, last revision {}, position {}, id {}{}\n",
      request->stream, result->first_revision.value, result->last_revision.value,
      result->position.value, id,
      result->idempotent ? " (idempotent: already appended, nothing written)" : "");
}

}  // namespace

void AddAppendCommand(CLI::App& app) {
  auto options = std::make_shared<AppendOptions>();
  CLI::App* command = app.add_subcommand("append", "Append one event to a stream");
  AddEngineFlags(command, &options->engine, OpenMode::kCreateIfMissing);
  command->add_option("--stream", options->stream, "Stream name")->required();
  command->add_option("--type", options->type, "Event type")->required();
  command
      ->add_option("--data", options->data,
                   "Event data: the text itself, @FILE for a file's contents, - for stdin")
      ->required();
  command->add_option("--metadata", options->metadata,
                      "Event metadata, a JSON object (also @FILE or -); none by default");
  command->add_option("--id", options->id,
                      "Event id (UUID); retrying with the same id is idempotent. Random when "
                      "omitted");
  command
      ->add_option("--content-type", options->content_type,
                   "Content type of the data; application/json data must be valid JSON")
      ->capture_default_str();
  command
      ->add_option("--expected-revision", options->expected,
                   "any, no_stream, stream_exists or the stream's current last revision")
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print the result as one JSON object");
  command->callback([options] { RunAppend(*options); });
}

}  // namespace annals::cli
