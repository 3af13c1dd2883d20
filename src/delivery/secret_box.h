// SecretBox: seals the secrets of delivery sinks (a webhook's signing key) before they are
// written to `$annals-delivery-config`, which anyone allowed to read `$all` can read.
//
// libsodium's crypto_secretbox (XSalsa20-Poly1305) with a 32-byte server key that never leaves
// the machine: a key file (`annals serve` keeps it in the data directory, created with mode 0600
// on first use) or, for a store that keeps nothing, a key that lives as long as the process.
// A sealed secret is "v1:" + base64(nonce || ciphertext); a fresh random nonce per seal.
//
// Thread safety: const methods may be called from any thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace annals::delivery {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr std::string_view kPrefix = "v1:";

  // Reads the key at `path`, or creates it (mode 0600, random, synced) when the file does not
  // exist. kInvalidArgument when the file is not a key, or is readable by group or others.
  static Result<SecretBox> FromKeyFile(const std::string& path);
  // A random key held in memory only: what it sealed cannot be opened after a restart.
  static SecretBox Ephemeral();

  std::string Seal(std::string_view plain) const;
  // kInvalidArgument when `sealed` is malformed or was not sealed with this key.
  Result<std::string> Open(std::string_view sealed) const;

 private:
  SecretBox() = default;
  std::array<unsigned char, kKeyBytes> key_{};
};

}  // namespace annals::delivery
