// Fixed-width integer encoding: little-endian for on-disk records (the common host order, so
// encoding is a copy), big-endian for index keys (so byte order sorts like numbers).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace annals {

inline void EncodeFixed16(char* dst, uint16_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeFixed32(char* dst, uint32_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeFixed64(char* dst, uint64_t v) { std::memcpy(dst, &v, sizeof v); }

inline uint16_t DecodeFixed16(const char* src) {
  uint16_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
inline uint32_t DecodeFixed32(const char* src) {
  uint32_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
inline uint64_t DecodeFixed64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}

inline void PutFixed16(std::string* dst, uint16_t v) {
  char buf[sizeof v];
  EncodeFixed16(buf, v);
  dst->append(buf, sizeof buf);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[sizeof v];
  EncodeFixed32(buf, v);
  dst->append(buf, sizeof buf);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[sizeof v];
  EncodeFixed64(buf, v);
  dst->append(buf, sizeof buf);
}

inline void EncodeBigEndian64(char* dst, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(dst, &v, sizeof v);
}
inline uint64_t DecodeBigEndian64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof v);
  return __builtin_bswap64(v);
}
inline void PutBigEndian64(std::string* dst, uint64_t v) {
  char buf[sizeof v];
  EncodeBigEndian64(buf, v);
  dst->append(buf, sizeof buf);
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the on-disk encoding assumes a little-endian host");

}  // namespace annals
