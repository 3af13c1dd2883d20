// DeriveEventId: RFC 4122 version-5 (SHA-1, name-based) UUIDs.
#include <openssl/sha.h>

#include "annals/typed_events.h"

namespace annals {
namespace {

// The namespace of Annals' derived event ids (a fixed random UUID): names hashed under it
// cannot collide with v5 UUIDs of other namespaces.
constexpr std::array<uint8_t, 16> kNamespace = {0x5b, 0x0e, 0x8a, 0x61, 0x2f, 0x4c, 0x4d, 0x1e,
                                                0x9a, 0x53, 0x0c, 0x8d, 0x77, 0x21, 0xe4, 0x3f};

}  // namespace

Uuid DeriveEventId(std::string_view name, uint32_t index) {
  std::string input(kNamespace.begin(), kNamespace.end());
  input.append(name);
  input.push_back('\0');  // "ab"+1 and "a"+"b1" must differ
  input.append(std::to_string(index));
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  Uuid id;
  for (size_t i = 0; i < 16; ++i) id.bytes[i] = digest[i];
  id.bytes[6] = static_cast<uint8_t>((id.bytes[6] & 0x0f) | 0x50);  // version 5
  id.bytes[8] = static_cast<uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

}  // namespace annals
