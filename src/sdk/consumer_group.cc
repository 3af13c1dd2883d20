#include "annals/consumer_group.h"

#include "core/json_writer.h"
#include "core/percent_encoding.h"
#include "sdk/http_client.h"
#include "sdk/remote_codec.h"

namespace annals {
namespace {

std::string IdsBody(const std::vector<std::string>& ids, std::string_view extra_members) {
  JsonWriter w;
  w.BeginObject();
  w.Key("ids");
  w.BeginArray();
  for (const std::string& id : ids) w.String(id);
  w.EndArray();
  w.RawMembers(extra_members);
  w.EndObject();
  return w.Take();
}

Status Answer(const sdk::HttpReply& r, const std::string& what) {
  if (r.status == 0) return Status(StatusCode::kUnavailable, "server unreachable: " + r.error);
  if (r.status >= 200 && r.status < 300) return Status::Ok();
  return sdk::StatusFromProblem(r.status, r.body, what);
}

}  // namespace

ConsumerGroupClient::ConsumerGroupClient(const RemoteOptions& server, std::string group)
    // A long poll may take its whole `wait`: the request timeout must be longer.
    : client_(std::make_unique<sdk::HttpClient>(server.url, server.authorization,
                                                server.timeout + std::chrono::seconds(60),
                                                server.connect_timeout)),
      path_("/subscriptions/" + PercentEncodeSegment(group)) {}

ConsumerGroupClient::~ConsumerGroupClient() = default;

Status ConsumerGroupClient::Create(std::string_view definition_json) {
  return Answer(client_->Do("PUT", path_, definition_json), path_);
}

Result<std::vector<Delivery>> ConsumerGroupClient::Poll(std::string_view consumer, uint32_t max,
                                                        std::chrono::milliseconds wait) {
  sdk::HttpReply r = client_->Do("POST", path_ + "/poll?max=" + std::to_string(max) +
                                             "&wait=" + std::to_string(wait.count()) +
                                             "&consumer=" + PercentEncodeSegment(consumer));
  if (r.status != 200) return Answer(r, path_);
  Result<std::vector<sdk::PolledEvent>> polled = sdk::ParsePoll(std::move(r.body));
  if (!polled.ok()) return polled.status();
  std::vector<Delivery> out;
  out.reserve(polled->size());
  for (sdk::PolledEvent& p : *polled) {
    out.push_back(Delivery{.event = std::move(p.event),
                           .ack_id = std::move(p.extras.ack_id),
                           .delivery_count = p.extras.delivery_count,
                           .replayed = p.extras.replayed});
  }
  return out;
}

Status ConsumerGroupClient::Ack(const std::vector<std::string>& ack_ids) {
  if (ack_ids.empty()) return Status::Ok();
  return Answer(client_->Do("POST", path_ + "/ack", IdsBody(ack_ids, {})), path_);
}

Status ConsumerGroupClient::Nack(const std::vector<std::string>& ack_ids, NackAction action,
                                 std::string_view reason) {
  if (ack_ids.empty()) return Status::Ok();
  std::string extra = "\"action\":";
  extra += action == NackAction::kRetry  ? "\"retry\""
           : action == NackAction::kPark ? "\"park\""
                                         : "\"skip\"";
  extra += ",\"reason\":";
  JsonWriter::AppendQuoted(&extra, reason);
  return Answer(client_->Do("POST", path_ + "/nack", IdsBody(ack_ids, extra)), path_);
}

}  // namespace annals
