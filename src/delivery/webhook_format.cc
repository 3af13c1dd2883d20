#include "delivery/webhook_format.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "core/base64.h"
#include "core/json_writer.h"
#include "core/rfc3339.h"
#include "delivery/codec.h"

namespace annals::delivery {

std::string StandardWebhookSignature(std::string_view secret, std::string_view id,
                                     int64_t timestamp, std::string_view body) {
  std::string key(secret);
  if (secret.substr(0, 6) == "whsec_") {
    if (auto k = Base64Decode(secret.substr(6))) key = *k;
  }
  std::string signed_content;
  signed_content.reserve(id.size() + body.size() + 24);
  signed_content.append(id);
  signed_content.push_back('.');
  signed_content.append(std::to_string(timestamp));
  signed_content.push_back('.');
  signed_content.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac,
       &mac_len);
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

HttpMessage BinaryEvent(const Delivery& d, std::string_view ce_source) {
  const RecordedEvent& e = *d.event;
  HttpMessage m;
  m.id = e.id.ToString();
  m.headers = {
      {"Content-Type", e.content_type},
      {"ce-specversion", "1.0"},
      {"ce-id", m.id},
      {"ce-source", std::string(ce_source)},
      {"ce-type", e.type},
      {"ce-subject", e.stream},
      {"ce-time", FormatRfc3339(e.created)},
      {"annals-stream", e.stream},
      {"annals-revision", std::to_string(e.revision.value)},
      {"annals-position", std::to_string(e.position.value)},
      {"annals-delivery-attempt", std::to_string(d.delivery_count)},
  };
  m.body = e.data;
  return m;
}

HttpMessage BatchOfEvents(const std::vector<Delivery>& batch, std::string_view ce_source) {
  JsonWriter w;
  size_t bytes = 0;
  for (const Delivery& d : batch) bytes += d.event->data.size() + 400;
  w.Reserve(bytes);
  w.BeginArray();
  for (const Delivery& d : batch) {
    const RecordedEvent& e = *d.event;
    w.BeginObject();
    w.Key("specversion");
    w.String("1.0");
    w.Key("id");
    w.String(e.id.ToString());
    w.Key("source");
    w.String(ce_source);
    w.Key("type");
    w.String(e.type);
    w.Key("subject");
    w.String(e.stream);
    w.Key("time");
    w.String(FormatRfc3339(e.created));
    w.Key("datacontenttype");
    w.String(e.content_type);
    if (e.IsJson()) {
      w.Key("data");
      w.Raw(e.data.empty() ? std::string_view("null") : std::string_view(e.data));
    } else {
      w.Key("data_base64");
      w.String(Base64Encode(e.data));
    }
    w.Key("annalsrevision");
    w.String(std::to_string(e.revision.value));
    w.Key("annalsposition");
    w.String(std::to_string(e.position.value));
    w.Key("annalsattempt");
    w.Uint(d.delivery_count);
    w.EndObject();
  }
  w.EndArray();
  HttpMessage m;
  m.id = batch.empty()
             ? std::string("batch-empty")
             : "batch-" + batch.front().event->id.ToString() + "-" + std::to_string(batch.size());
  m.headers = {{"Content-Type", "application/cloudevents-batch+json"}};
  m.body = w.Take();
  return m;
}

void Sign(HttpMessage* m, std::string_view secret, int64_t unix_seconds) {
  if (secret.empty()) return;
  m->headers.emplace_back("webhook-id", m->id);
  m->headers.emplace_back("webhook-timestamp", std::to_string(unix_seconds));
  m->headers.emplace_back("webhook-signature",
                          StandardWebhookSignature(secret, m->id, unix_seconds, m->body));
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         int64_t now_unix_seconds) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r' || value.back() == '\n')) {
    value.remove_suffix(1);
  }
  if (value.empty()) return std::nullopt;
  uint64_t seconds = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && p == value.data() + value.size()) {
    return std::chrono::milliseconds(std::min<uint64_t>(seconds, 86400) * 1000);
  }
  const std::string date(value);
  const time_t at = curl_getdate(date.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  const int64_t delta = static_cast<int64_t>(at) - now_unix_seconds;
  return std::chrono::milliseconds(std::clamp<int64_t>(delta, 0, 86400) * 1000);
}

}  // namespace annals::delivery
