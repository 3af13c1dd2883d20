// CRC-32C (Castagnoli): the checksum of every log record. Hardware-accelerated with SSE4.2,
// which every x86-64 server since 2008 has (the build passes -msse4.2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace annals::crc32c {

// The CRC-32C of `data` appended to a message whose CRC-32C is `crc`:
// Extend(Value(a), b) == Value(a + b). Standard form (initial and final inversion), so
// Value("123456789") == 0xE3069283.
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

}  // namespace annals::crc32c
