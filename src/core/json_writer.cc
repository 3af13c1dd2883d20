#include "core/json_writer.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace annals {

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendQuoted(&out_, key);
  out_.push_back(':');
  need_comma_ = false;  // the value that follows belongs to this key
}

void JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendQuoted(&out_, value);
}

void JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  char buf[20];
  auto result = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, result.ptr);
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  char buf[20];
  auto result = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, result.ptr);
}

void JsonWriter::Double(double value) {
  if (!std::isfinite(value)) {
    Null();
    return;
  }
  BeforeValue();
  char buf[32];  // the shortest round-trip form of a double is at most 24 characters
  auto result = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, result.ptr);
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  out_.append(value ? "true" : "false");
}

void JsonWriter::Null() {
  BeforeValue();
  out_.append("null");
}

void JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
}

void JsonWriter::RawMembers(std::string_view members) {
  if (members.empty()) return;
  BeforeValue();
  out_.append(members);
}

void JsonWriter::AppendQuoted(std::string* out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  // Copy runs of bytes that need no escaping in one append: most strings have no escapes.
  size_t run_start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(value.data() + run_start, i - run_start);
    run_start = i + 1;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else {
      const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out->append(escape, sizeof escape);
    }
  }
  out->append(value.data() + run_start, value.size() - run_start);
  out->push_back('"');
}

std::string JsonWriter::Take() {
  std::string out = std::move(out_);
  out_.clear();  // a moved-from string is valid but unspecified
  need_comma_ = false;
  return out;
}

}  // namespace annals
