// JSON syntax checking, for validating event data and metadata before they are stored.
//
// simdjson is the fast path. It refuses a few documents that RFC 8259 allows (integers beyond
// 64 bits, numbers beyond double range such as 1e400, escaped lone surrogates such as
// "\ud800"), so whatever simdjson refuses is re-checked against the RFC 8259 grammar, which
// decides. Stored events are opaque to the store; refusing valid JSON would be a bug.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace annals {

// The deepest nesting of arrays and objects accepted: simdjson's default. Deeper documents
// are refused, on purpose, so that every reader that parses stored JSON with simdjson can.
inline constexpr size_t kMaxJsonDepth = 1024;

// Empty when `text` is exactly one JSON value (any value, scalars included) surrounded by
// optional whitespace, in valid UTF-8; otherwise the reason, naming the byte offset.
std::string JsonSyntaxError(std::string_view text);

// The grammar check alone, without the simdjson fast path: what JsonSyntaxError falls back on
// (exposed so tests can hold the two against each other).
std::string JsonGrammarError(std::string_view text);

}  // namespace annals
