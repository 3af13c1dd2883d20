#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace annals {
namespace {

// Bit-at-a-time CRC-32C: the definition, slow and obviously right.
uint32_t ReferenceCrc32c(uint32_t crc, const unsigned char* data, size_t n) {
  constexpr uint32_t kReflectedPolynomial = 0x82F63B78;
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (kReflectedPolynomial & (0u - (crc & 1)));
  }
  return ~crc;
}

TEST(Crc32cTest, StandardCheckValue) { EXPECT_EQ(crc32c::Value("123456789", 9), 0xE3069283u); }

TEST(Crc32cTest, EmptyInputIsZeroAndExtendingByNothingIsIdentity) {
  EXPECT_EQ(crc32c::Value("", 0), 0u);
  EXPECT_EQ(crc32c::Extend(0x12345678, "", 0), 0x12345678u);
}

// The test vectors of RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32cTest, Rfc3720Vectors) {
  unsigned char buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x8A9136AAu);
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c::Value(buf, sizeof buf), 0x113FDB5Cu);
  const unsigned char kIscsiRead[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(crc32c::Value(kIscsiRead, sizeof kIscsiRead), 0xD9963A56u);
}

TEST(Crc32cTest, ExtendOverAnySplitEqualsOneValueOverTheWhole) {
  std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  uint32_t whole = crc32c::Value(text.data(), text.size());
  for (size_t split = 0; split <= text.size(); ++split) {
    uint32_t head = crc32c::Value(text.data(), split);
    EXPECT_EQ(crc32c::Extend(head, text.data() + split, text.size() - split), whole) << split;
  }
}

TEST(Crc32cTest, MatchesBitwiseReferenceOnRandomBuffersLengthsAndAlignments) {
  std::mt19937_64 rng(42);
  std::vector<unsigned char> buffer(4096 + 16);
  for (auto& b : buffer) b = static_cast<unsigned char>(rng());
  for (int round = 0; round < 2000; ++round) {
    size_t offset = rng() % 16;
    size_t length = round < 100 ? round : rng() % 4096;
    uint32_t seed = round % 2 == 0 ? 0 : static_cast<uint32_t>(rng());
    const unsigned char* p = buffer.data() + offset;
    ASSERT_EQ(crc32c::Extend(seed, p, length), ReferenceCrc32c(seed, p, length))
        << "offset " << offset << " length " << length << " seed " << seed;
  }
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::vector<unsigned char> data(100, 0x5a);
  uint32_t original = crc32c::Value(data.data(), data.size());
  for (size_t i = 0; i < data.size() * 8; i += 37) {
    data[i / 8] ^= static_cast<unsigned char>(1u << (i % 8));
    EXPECT_NE(crc32c::Value(data.data(), data.size()), original) << i;
    data[i / 8] ^= static_cast<unsigned char>(1u << (i % 8));
  }
}

}  // namespace
}  // namespace annals
