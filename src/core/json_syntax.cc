#include "core/json_syntax.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <vector>

namespace annals {
namespace {

// Largest document parsed with the per-thread simdjson parser. The parser keeps buffers sized
// for the biggest input it has seen (about 14 bytes per input byte, mostly the tape): larger
// documents get a parser of their own, freed at once, so that one 16 MiB event does not pin
// hundreds of MiB in every thread that ever validated one.
constexpr size_t kMaxRetainedParserInput = 1 << 20;

bool SimdjsonAccepts(std::string_view text) {
  thread_local simdjson::dom::parser per_thread;
  simdjson::dom::parser own;  // allocates nothing unless used
  simdjson::dom::parser& parser = text.size() <= kMaxRetainedParserInput ? per_thread : own;
  // realloc_if_needed: simdjson reads past the end of its input, so it copies the text into a
  // padded buffer of its own rather than overread ours.
  return parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).error() ==
         simdjson::SUCCESS;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A direct reading of the RFC 8259 grammar. Iterative, with an explicit stack of open
// containers, so a hostile document cannot exhaust the call stack. Runs only when simdjson
// refused the text, so it favours clarity over speed.
class GrammarChecker {
 public:
  explicit GrammarChecker(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  std::string Check() {
    // The grammar below is byte-oriented; UTF-8 validity of the whole text covers strings.
    if (!simdjson::validate_utf8(begin_, static_cast<size_t>(end_ - begin_))) {
      return "not valid UTF-8";
    }
    enum class Next { kValue, kKey, kAfterValue };
    std::vector<char> open;  // '{' or '[' for each open non-empty container
    Next next = Next::kValue;
    while (true) {
      SkipWhitespace();
      switch (next) {
        case Next::kValue: {
          if (p_ == end_) return Error("unexpected end of input, expected a value");
          char c = *p_;
          if (c == '{' || c == '[') {
            if (open.size() >= kMaxJsonDepth) {
              return Error(fmt::format("nesting deeper than {} levels", kMaxJsonDepth));
            }
            ++p_;
            SkipWhitespace();
            char close = c == '{' ? '}' : ']';
            if (p_ != end_ && *p_ == close) {
              ++p_;
              next = Next::kAfterValue;
            } else {
              open.push_back(c);
              next = c == '{' ? Next::kKey : Next::kValue;
            }
            break;
          }
          if (!Scalar()) return error_;
          next = Next::kAfterValue;
          break;
        }
        case Next::kKey:
          if (p_ == end_ || *p_ != '"') return Error("expected a string key");
          if (!String()) return error_;
          SkipWhitespace();
          if (p_ == end_ || *p_ != ':') return Error("expected ':' after an object key");
          ++p_;
          next = Next::kValue;
          break;
        case Next::kAfterValue:
          if (open.empty()) {
            if (p_ != end_) return Error("unexpected text after the JSON value");
            return std::string();
          }
          if (p_ == end_) return Error("unexpected end of input inside an object or array");
          if (*p_ == ',') {
            ++p_;
            next = open.back() == '{' ? Next::kKey : Next::kValue;
          } else if (*p_ == (open.back() == '{' ? '}' : ']')) {
            ++p_;
            open.pop_back();
          } else {
            return Error(open.back() == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
          }
          break;
      }
    }
  }

 private:
  // Records why the text is refused, at the current offset; false for `return Fail(...)`.
  bool Fail(std::string_view what) {
    error_ = fmt::format("{} at byte {}", what, p_ - begin_);
    return false;
  }
  std::string Error(std::string_view what) {
    Fail(what);
    return error_;
  }

  void SkipWhitespace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // A string, number or literal at p_.
  bool Scalar() {
    char c = *p_;
    if (c == '"') return String();
    if (c == 't') return Literal("true");
    if (c == 'f') return Literal("false");
    if (c == 'n') return Literal("null");
    if (c == '-' || IsDigit(c)) return Number();
    return Fail("unexpected character, expected a value");
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return Fail("invalid literal");
    }
    p_ += word.size();
    return true;
  }

  // number = [ minus ] int [ frac ] [ exp ]; any magnitude and precision is grammatical.
  bool Number() {
    if (*p_ == '-') ++p_;
    if (p_ != end_ && *p_ == '0') {
      ++p_;  // a leading zero stands alone: "01" ends the number after the 0
    } else if (p_ != end_ && IsDigit(*p_)) {
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    } else {
      return Fail("invalid number: expected a digit");
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return Fail("invalid number: expected a digit after '.'");
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return Fail("invalid number: expected an exponent digit");
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    return true;
  }

  // Any \uXXXX escape is grammatical, lone surrogates included (RFC 8259 section 8.2).
  bool String() {
    ++p_;  // the opening quote
    while (p_ != end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail("unescaped control character in a string");
      if (c != '\\') {
        ++p_;
        continue;
      }
      ++p_;
      if (p_ == end_) break;
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          ++p_;
          break;
        case 'u':
          ++p_;
          for (int i = 0; i < 4; ++i, ++p_) {
            if (p_ == end_ || !IsHexDigit(*p_)) return Fail("invalid \\u escape in a string");
          }
          break;
        default:
          return Fail("invalid escape in a string");
      }
    }
    return Fail("unterminated string");
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string error_;
};

}  // namespace

std::string JsonSyntaxError(std::string_view text) {
  if (SimdjsonAccepts(text)) return std::string();
  return JsonGrammarError(text);
}

std::string JsonGrammarError(std::string_view text) { return GrammarChecker(text).Check(); }

}  // namespace annals
