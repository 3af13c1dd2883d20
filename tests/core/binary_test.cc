#include "core/binary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace annals {
namespace {

TEST(BinaryTest, FixedWidthEncodingIsLittleEndian) {
  std::string out;
  PutFixed16(&out, 0x0102);
  PutFixed32(&out, 0x03040506);
  PutFixed64(&out, 0x0708090a0b0c0d0e);
  EXPECT_EQ(out, std::string("\x02\x01\x06\x05\x04\x03\x0e\x0d\x0c\x0b\x0a\x09\x08\x07", 14));
  EXPECT_EQ(DecodeFixed16(out.data()), 0x0102);
  EXPECT_EQ(DecodeFixed32(out.data() + 2), 0x03040506u);
  EXPECT_EQ(DecodeFixed64(out.data() + 6), 0x0708090a0b0c0d0eull);
}

TEST(BinaryTest, EncodeAndDecodeRoundTripAtUnalignedAddresses) {
  std::mt19937_64 rng(1);
  char buf[16 + 8];
  for (int round = 0; round < 1000; ++round) {
    uint64_t v = rng();
    size_t offset = round % 16;
    EncodeFixed16(buf + offset, static_cast<uint16_t>(v));
    EXPECT_EQ(DecodeFixed16(buf + offset), static_cast<uint16_t>(v));
    EncodeFixed32(buf + offset, static_cast<uint32_t>(v));
    EXPECT_EQ(DecodeFixed32(buf + offset), static_cast<uint32_t>(v));
    EncodeFixed64(buf + offset, v);
    EXPECT_EQ(DecodeFixed64(buf + offset), v);
    EncodeBigEndian64(buf + offset, v);
    EXPECT_EQ(DecodeBigEndian64(buf + offset), v);
  }
}

TEST(BinaryTest, BigEndianIsMostSignificantByteFirst) {
  std::string out;
  PutBigEndian64(&out, 0x0102030405060708);
  EXPECT_EQ(out, std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

// Index keys rely on this: comparing encoded bytes orders like comparing the numbers.
TEST(BinaryTest, BigEndianBytesSortLikeTheNumbers) {
  std::mt19937_64 rng(2);
  std::vector<uint64_t> numbers = {0, 1, 255, 256, 65535, 65536, ~uint64_t{0}, 1ull << 63};
  for (int i = 0; i < 500; ++i) numbers.push_back(rng() >> (rng() % 64));
  std::vector<std::string> keys;
  for (uint64_t n : numbers) {
    std::string key;
    PutBigEndian64(&key, n);
    keys.push_back(key);
  }
  std::sort(numbers.begin(), numbers.end());
  std::sort(keys.begin(), keys.end());  // std::string compares as unsigned bytes
  for (size_t i = 0; i < numbers.size(); ++i)
    EXPECT_EQ(DecodeBigEndian64(keys[i].data()), numbers[i]);
}

}  // namespace
}  // namespace annals
