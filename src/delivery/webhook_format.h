// What a webhook sends, free of I/O: CloudEvents 1.0 over HTTP (binary mode for one event,
// structured batch mode for several), Standard Webhooks signatures, Retry-After parsing.
//
// Binary mode (one event per request):
//   Content-Type: <the event's content type>          body: the event's data, as stored
//   ce-specversion: 1.0   ce-id: <event id>   ce-source: <source>   ce-type: <event type>
//   ce-subject: <stream>  ce-time: <created, RFC 3339>
//   annals-stream, annals-revision, annals-position, annals-delivery-attempt
// Structured batch mode (Content-Type: application/cloudevents-batch+json): a JSON array of
// CloudEvents with the same attributes, `data` inline for JSON events (`data_base64`
// otherwise), and the extension attributes `annalsrevision`, `annalsposition` (decimal strings:
// they may exceed 2^53) and `annalsattempt`.
// Both are signed per Standard Webhooks (https://www.standardwebhooks.com):
//   webhook-id: <event id, or "batch-<first id>-<count>">
//   webhook-timestamp: <Unix seconds>
//   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
// where key is the base64-decoded part of a "whsec_..." secret, or the secret's bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delivery/definitions.h"

namespace annals::delivery {

struct HttpMessage {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string id;  // webhook-id
};

// Signs `id.timestamp.body`; "v1,<base64>".
std::string StandardWebhookSignature(std::string_view secret, std::string_view id,
                                     int64_t timestamp, std::string_view body);

HttpMessage BinaryEvent(const Delivery& d, std::string_view ce_source);
HttpMessage BatchOfEvents(const std::vector<Delivery>& batch, std::string_view ce_source);
// Adds the three Standard Webhooks headers (nothing when `secret` is empty: unsigned).
void Sign(HttpMessage* m, std::string_view secret, int64_t unix_seconds);

// Retry-After: delay seconds or an HTTP date; nullopt when absent or malformed.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         int64_t now_unix_seconds);

}  // namespace annals::delivery
