// Users and API keys, their roles and stream-prefix ACLs: the users file, authentication
// (HTTP Basic and bearer API keys) and authorization.
//
// The users file (TOML, written by `annals user ...`, read at start):
//
//   [[users]]
//   name = "alice"
//   password_hash = "$argon2id$v=19$m=65536,t=2,p=1$..."   # libsodium crypto_pwhash_str
//   role = "writer"                                        # admin | writer | reader
//   streams = ["visit-", "billing-"]     # optional: the role applies to these prefixes only
//   delete = ["visit-"]                  # optional, per operation (read, write, delete,
//                                        # metadata): replaces `streams` for that operation
//   [[keys]]
//   name = "ci"
//   id = "9f2c01ab"                       # public part of the token
//   hash = "<hex BLAKE2b-256 of the secret>"
//   role = "reader"
//
// Roles: reader reads streams, $all, the catalog and metadata; writer also appends and writes
// metadata; admin also deletes. Every authenticated principal may read /info and /metrics;
// /health/* is always open. $all and the catalog need read access to every stream.
//
// API tokens are "annals_<id>_<secret>"; only a hash of the secret is stored. Passwords are
// verified with crypto_pwhash_str_verify (Argon2id, deliberately slow): successful checks are
// cached for a few minutes under a keyed hash, so steady traffic does not pay for it again.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "annals/status.h"
#include "api/http/auth.h"
#include "api/http/authn.h"

namespace annals::http {

enum class Role : uint8_t { kReader, kWriter, kAdmin };
std::optional<Role> ParseRole(std::string_view text);
std::string_view RoleName(Role role);

struct Account {
  std::string name;
  Role role = Role::kReader;
  std::vector<std::string> streams;  // empty: all streams
  // Per operation overrides of `streams` (read, write, delete, metadata).
  std::map<std::string, std::vector<std::string>> per_operation;
  // A user: password_hash. A key: key_id and key_hash (hex).
  std::string password_hash;
  std::string key_id;
  std::string key_hash;
  bool is_key = false;
};

struct UsersFile {
  std::vector<Account> accounts;

  static Result<UsersFile> Load(const std::string& path);
  // Writes atomically (temp file, fsync, rename, fsync the directory), mode 0600.
  Status Save(const std::string& path) const;
  const Account* FindUser(std::string_view name) const;
  const Account* FindKey(std::string_view id) const;
};

// Hashes a password for the file (crypto_pwhash_str, interactive limits).
Result<std::string> HashPassword(std::string_view password);
// A new API key: fills `account` (key_id, key_hash) and returns the token to show once.
std::string NewApiKey(Account* account);

class AccountAuth : public Authenticator, public Authorizer {
 public:
  explicit AccountAuth(UsersFile users);

  Result<Principal> Authenticate(std::string_view authorization) const override;
  // True when Authenticate would not need a slow password hash check (no header, a bearer
  // token, or a cached Basic credential): the caller may run it on an I/O thread.
  bool IsCheap(std::string_view authorization) const override;
  Status Check(const Principal& principal, Operation op, std::string_view stream) const override;

 private:
  UsersFile users_;
  std::array<uint8_t, 32> cache_key_{};
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::chrono::steady_clock::time_point> verified_;
  std::string CacheId(std::string_view user, std::string_view password) const;
};

}  // namespace annals::http
