// JsonWriter: an append-only JSON writer for hot paths (HTTP responses, CLI output).
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("stream");
//   w.String(name);
//   w.Key("data");
//   w.Raw(event.data);  // already JSON: copied as is
//   w.EndObject();
//   std::string out = w.Take();
//
// Commas are automatic. The caller keeps the calls well nested (a Key before every value in an
// object, every Begin matched by its End); the writer does not check, to stay a plain append.
// Strings are escaped (quote, backslash, control characters as \u00XX) and otherwise copied
// byte for byte: they must be valid UTF-8 for the output to be valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace annals {

class JsonWriter {
 public:
  JsonWriter() = default;

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }

  // An object member's name; the next call writes its value.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Uint(uint64_t value);
  void Int(int64_t value);
  // Shortest form that reads back as the same double; NaN and infinities (which JSON cannot
  // express) are written as null.
  void Double(double value);
  void Bool(bool value);
  void Null();
  // A value that is already JSON text (e.g. an event's data), copied unchanged.
  void Raw(std::string_view json);
  // Members that are already JSON text (`"a":1,"b":2`, without braces), spliced into the
  // current object; empty text adds nothing.
  void RawMembers(std::string_view members);

  // Appends `value` as a JSON string (quotes included) to `out`.
  static void AppendQuoted(std::string* out, std::string_view value);

  void Reserve(size_t bytes) { out_.reserve(bytes); }
  const std::string& str() const { return out_; }
  // The text written so far; the writer is empty afterwards and may be reused.
  std::string Take();

 private:
  // Writes the separating comma when a value precedes this one at the same level.
  void BeforeValue() {
    if (need_comma_) out_.push_back(',');
    need_comma_ = true;
  }
  void Open(char c) {
    BeforeValue();
    out_.push_back(c);
    need_comma_ = false;
  }
  void Close(char c) {
    out_.push_back(c);
    need_comma_ = true;
  }

  std::string out_;
  // True after a complete value or member, false at the start of a container and after a key.
  bool need_comma_ = false;
};

}  // namespace annals
