#include "api/http/users.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "api/http/encoding.h"

namespace annals::http {

namespace {

constexpr std::chrono::minutes kCacheTtl{5};
constexpr size_t kCacheMax = 10000;

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

std::string HashSecret(std::string_view secret) {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return Hex(h, sizeof(h));
}

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Status Unauthenticated(std::string why) {
  return Status(StatusCode::kUnauthenticated, std::move(why));
}

std::string_view OperationKey(Operation op) {
  switch (op) {
    case Operation::kRead:
    case Operation::kMetadataRead:
      return op == Operation::kRead ? "read" : "metadata";
    case Operation::kWrite:
      return "write";
    case Operation::kDelete:
      return "delete";
    case Operation::kMetadataWrite:
      return "metadata";
    case Operation::kOperate:
      return "operate";
  }
  return "";
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kRead:
      return "read";
    case Operation::kWrite:
      return "write";
    case Operation::kDelete:
      return "delete";
    case Operation::kMetadataRead:
      return "read metadata";
    case Operation::kMetadataWrite:
      return "write metadata";
    case Operation::kOperate:
      return "operate";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "reader") return Role::kReader;
  if (text == "writer") return Role::kWriter;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

Result<UsersFile> UsersFile::Load(const std::string& path) {
  UsersFile file;
  if (!std::filesystem::exists(path)) return file;
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status(StatusCode::kInvalidArgument,
                  "users file " + path + ": " + std::string(e.description()));
  }
  auto bad = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "users file " + path + ": " + why);
  };
  for (const char* section : {"users", "keys"}) {
    const toml::array* arr = table[section].as_array();
    if (arr == nullptr) continue;
    for (const toml::node& n : *arr) {
      const toml::table* t = n.as_table();
      if (t == nullptr) return bad(std::string(section) + " entries must be tables");
      Account a;
      a.is_key = std::string_view(section) == "keys";
      a.name = (*t)["name"].value_or(std::string());
      auto role = ParseRole((*t)["role"].value_or(std::string()));
      if (a.name.empty() || !role) return bad("every entry needs a name and a valid role");
      a.role = *role;
      if (a.is_key) {
        a.key_id = (*t)["id"].value_or(std::string());
        a.key_hash = (*t)["hash"].value_or(std::string());
        if (a.key_id.empty() || a.key_hash.empty()) return bad("key " + a.name + ": id and hash");
      } else {
        a.password_hash = (*t)["password_hash"].value_or(std::string());
        if (a.password_hash.empty()) return bad("user " + a.name + ": password_hash");
      }
      auto strings = [&](const char* key, std::vector<std::string>* out) -> bool {
        const toml::node_view<const toml::node> v = (*t)[key];
        if (!v) return true;
        const toml::array* list = v.as_array();
        if (list == nullptr) return false;
        for (const toml::node& s : *list) {
          auto str = s.value<std::string>();
          if (!str) return false;
          out->push_back(*str);
        }
        return true;
      };
      if (!strings("streams", &a.streams)) return bad(a.name + ": streams must be strings");
      for (const char* op : {"read", "write", "delete", "metadata"}) {
        if (!(*t)[op]) continue;
        std::vector<std::string> prefixes;
        if (!strings(op, &prefixes)) return bad(a.name + ": " + op + " must be strings");
        a.per_operation[op] = std::move(prefixes);
      }
      file.accounts.push_back(std::move(a));
    }
  }
  return file;
}

Status UsersFile::Save(const std::string& path) const {
  toml::array users;
  toml::array keys;
  for (const Account& a : accounts) {
    toml::table t;
    t.insert("name", a.name);
    t.insert("role", std::string(RoleName(a.role)));
    if (a.is_key) {
      t.insert("id", a.key_id);
      t.insert("hash", a.key_hash);
    } else {
      t.insert("password_hash", a.password_hash);
    }
    if (!a.streams.empty()) {
      toml::array s;
      for (const auto& p : a.streams) s.push_back(p);
      t.insert("streams", std::move(s));
    }
    for (const auto& [op, prefixes] : a.per_operation) {
      toml::array s;
      for (const auto& p : prefixes) s.push_back(p);
      t.insert(op, std::move(s));
    }
    (a.is_key ? keys : users).push_back(std::move(t));
  }
  toml::table root;
  if (!users.empty()) root.insert("users", std::move(users));
  if (!keys.empty()) root.insert("keys", std::move(keys));
  std::ostringstream text;
  text << "# Annals users and API keys: managed by `annals user`.\n" << root << "\n";
  const std::string body = text.str();
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status(StatusCode::kIoError, "cannot write " + tmp);
  size_t off = 0;
  while (off < body.size()) {
    const ssize_t n = ::write(fd, body.data() + off, body.size() - off);
    if (n <= 0) {
      ::close(fd);
      return Status(StatusCode::kIoError, "cannot write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status(StatusCode::kIoError, "fsync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status(StatusCode::kIoError, "cannot rename " + tmp + " to " + path);
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

const Account* UsersFile::FindUser(std::string_view name) const {
  for (const Account& a : accounts) {
    if (!a.is_key && a.name == name) return &a;
  }
  return nullptr;
}

const Account* UsersFile::FindKey(std::string_view id) const {
  for (const Account& a : accounts) {
    if (a.is_key && a.key_id == id) return &a;
  }
  return nullptr;
}

Result<std::string> HashPassword(std::string_view password) {
  if (sodium_init() < 0) return Status(StatusCode::kInternal, "libsodium failed to start");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status(StatusCode::kInternal, "out of memory hashing a password");
  }
  return std::string(out);
}

std::string NewApiKey(Account* account) {
  if (sodium_init() < 0) std::abort();  // randombytes needs it; fails only without entropy
  unsigned char id[4];
  unsigned char secret[32];
  randombytes_buf(id, sizeof(id));
  randombytes_buf(secret, sizeof(secret));
  account->key_id = Hex(id, sizeof(id));
  const std::string secret_hex = Hex(secret, sizeof(secret));
  account->key_hash = HashSecret(secret_hex);
  account->is_key = true;
  return "annals_" + account->key_id + "_" + secret_hex;
}

AccountAuth::AccountAuth(UsersFile users) : users_(std::move(users)) {
  if (sodium_init() < 0) std::abort();
  randombytes_buf(cache_key_.data(), cache_key_.size());
}

std::string AccountAuth::CacheId(std::string_view user, std::string_view password) const {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash_state st;
  crypto_generichash_init(&st, cache_key_.data(), cache_key_.size(), sizeof(h));
  const uint64_t n = user.size();
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof(n));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(user.data()), user.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(password.data()),
                            password.size());
  crypto_generichash_final(&st, h, sizeof(h));
  return std::string(reinterpret_cast<const char*>(h), sizeof(h));
}

namespace {

// Splits "Basic base64(user:password)"; false when malformed.
bool ParseBasic(std::string_view header, std::string* user, std::string* password) {
  if (header.size() < 6 || !EqualsIgnoreCase(header.substr(0, 6), "Basic ")) return false;
  auto decoded = Base64Decode(header.substr(6));
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  *user = decoded->substr(0, colon);
  *password = decoded->substr(colon + 1);
  return true;
}

bool IsBearer(std::string_view header) {
  return header.size() > 7 && EqualsIgnoreCase(header.substr(0, 7), "Bearer ");
}

}  // namespace

bool AccountAuth::IsCheap(std::string_view authorization) const {
  std::string user;
  std::string password;
  if (authorization.empty() || IsBearer(authorization)) return true;
  if (!ParseBasic(authorization, &user, &password)) return true;
  std::lock_guard lock(mu_);
  auto it = verified_.find(CacheId(user, password));
  return it != verified_.end() && it->second > std::chrono::steady_clock::now();
}

Result<Principal> AccountAuth::Authenticate(std::string_view authorization) const {
  if (authorization.empty()) return Principal{};
  if (IsBearer(authorization)) {
    std::string_view token = authorization.substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    // annals_<id>_<secret>
    if (!HasPrefix(token, "annals_")) return Unauthenticated("malformed API token");
    token.remove_prefix(7);
    const size_t us = token.find('_');
    if (us == std::string_view::npos) return Unauthenticated("malformed API token");
    const Account* a = users_.FindKey(token.substr(0, us));
    const std::string hash = HashSecret(token.substr(us + 1));
    if (a == nullptr || a->key_hash.size() != hash.size() ||
        sodium_memcmp(a->key_hash.data(), hash.data(), hash.size()) != 0) {
      return Unauthenticated("unknown or revoked API token");
    }
    return Principal{a->name, true};
  }
  std::string user;
  std::string password;
  if (!ParseBasic(authorization, &user, &password)) {
    return Unauthenticated("unsupported or malformed Authorization header");
  }
  const Account* a = users_.FindUser(user);
  if (a == nullptr) return Unauthenticated("unknown user or wrong password");
  const std::string id = CacheId(user, password);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = verified_.find(id);
    if (it != verified_.end() && it->second > now) return Principal{a->name, true};
  }
  if (crypto_pwhash_str_verify(a->password_hash.c_str(), password.data(), password.size()) != 0) {
    return Unauthenticated("unknown user or wrong password");
  }
  std::lock_guard lock(mu_);
  if (verified_.size() >= kCacheMax) verified_.clear();
  verified_[id] = now + kCacheTtl;
  return Principal{a->name, true};
}

Status AccountAuth::Check(const Principal& principal, Operation op, std::string_view stream) const {
  if (!principal.authenticated) {
    return Status(StatusCode::kUnauthenticated,
                  "credentials required (HTTP Basic or an API token)");
  }
  const Account* a = nullptr;
  for (const Account& acc : users_.accounts) {
    if (acc.name == principal.name) a = &acc;
  }
  if (a == nullptr) return Status(StatusCode::kUnauthenticated, "unknown principal");
  if (op == Operation::kOperate) return Status::Ok();
  const bool role_ok =
      op == Operation::kRead || op == Operation::kMetadataRead ||
      ((op == Operation::kWrite || op == Operation::kMetadataWrite) && a->role != Role::kReader) ||
      (op == Operation::kDelete && a->role == Role::kAdmin);
  auto deny = [&](std::string why) {
    return Status(StatusCode::kPermissionDenied,
                  principal.name + " may not " + std::string(OperationName(op)) +
                      (stream.empty() ? std::string(" $all or the catalog")
                                      : " stream '" + std::string(stream) + "'") +
                      ": " + why);
  };
  if (!role_ok) return deny("role " + std::string(RoleName(a->role)));
  // A per-operation list replaces `streams` (and an empty one allows no stream); an absent or
  // empty `streams` allows every stream.
  const std::vector<std::string>* prefixes = &a->streams;
  if (auto it = a->per_operation.find(std::string(OperationKey(op)));
      it != a->per_operation.end()) {
    if (it->second.empty()) return deny("no stream is allowed for this operation");
    prefixes = &it->second;
  } else if (prefixes->empty()) {
    return Status::Ok();
  }
  if (stream.empty()) return deny("access is limited to some streams");
  // A stream's metadata stream `$$<stream>` is governed by the stream's own prefix.
  for (const std::string& p : *prefixes) {
    if (HasPrefix(stream, p)) return Status::Ok();
  }
  return deny("not in the allowed stream prefixes");
}

}  // namespace annals::http
