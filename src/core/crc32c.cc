#include "core/crc32c.h"

#include <nmmintrin.h>

#include <cstring>

#ifndef __SSE4_2__
#error "crc32c.cc needs SSE4.2 (-msse4.2): it uses the CRC32 instruction"
#endif

namespace annals::crc32c {

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  // The CRC32 instruction works on the inverted register; inverting on the way in and out
  // makes the result the standard CRC-32C and lets Extend chain.
  uint64_t state = ~crc;
  // 8 bytes per instruction. memcpy is the portable unaligned load; it compiles to one mov,
  // and x86 loads do not care about alignment, so no aligning prologue is needed.
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    state = _mm_crc32_u64(state, word);
    p += 8;
    n -= 8;
  }
  auto state32 = static_cast<uint32_t>(state);
  if (n >= 4) {
    uint32_t word;
    std::memcpy(&word, p, sizeof word);
    state32 = _mm_crc32_u32(state32, word);
    p += 4;
    n -= 4;
  }
  while (n > 0) {
    state32 = _mm_crc32_u8(state32, *p);
    ++p;
    --n;
  }
  return ~state32;
}

}  // namespace annals::crc32c
