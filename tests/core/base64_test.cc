#include "core/base64.h"

#include <gtest/gtest.h>

namespace annals {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), plain);
  }
}

TEST(Base64, EveryByteRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(Base64Decode(Base64Encode(part)), part) << n;
  }
}

TEST(Base64, UnpaddedIsAccepted) {
  EXPECT_EQ(Base64Decode("Zm9vYg"), "foob");
  EXPECT_EQ(Base64Decode("Zm9vYmE"), "fooba");
}

TEST(Base64, MalformedIsRefused) {
  EXPECT_FALSE(Base64Decode("Zm9v!g=="));
  EXPECT_FALSE(Base64Decode("Zm9vYg==x"));  // data after padding
  EXPECT_FALSE(Base64Decode("Zm=9"));
  EXPECT_FALSE(Base64Decode("Zm9vY"));    // 5 characters: no encoder writes that
  EXPECT_FALSE(Base64Decode("Zm9vYg="));  // padding that does not complete a group
  EXPECT_FALSE(Base64Decode("Zm9v Yg=="));
}

}  // namespace
}  // namespace annals
