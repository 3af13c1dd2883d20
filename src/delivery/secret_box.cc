#include "delivery/secret_box.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/base64.h"
#include "delivery/webhook_format.h"

namespace annals::delivery {

namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status(StatusCode::kIoError, what + " " + path + ": " + std::strerror(errno));
}

void InitSodium() {
  // randombytes needs it; it fails only when the system has no entropy source.
  if (sodium_init() < 0) std::abort();
}

// Creates the key file atomically: a temporary file (0600), synced, renamed into place, and the
// directory synced, so a crash leaves either no key or the whole key.
Status CreateKeyFile(const std::string& path, const unsigned char* key) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  const bool written =
      ::write(fd, key, SecretBox::kKeyBytes) == static_cast<ssize_t>(SecretBox::kKeyBytes) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot write", path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Result<SecretBox> SecretBox::FromKeyFile(const std::string& path) {
  InitSodium();
  SecretBox box;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return Errno("cannot open", path);
    randombytes_buf(box.key_.data(), box.key_.size());
    ANNALS_RETURN_IF_ERROR(CreateKeyFile(path, box.key_.data()));
    return box;
  }
  struct stat st {};
  const bool stated = ::fstat(fd, &st) == 0;
  const ssize_t n = ::read(fd, box.key_.data(), box.key_.size());
  char extra = 0;
  const bool more = ::read(fd, &extra, 1) > 0;
  ::close(fd);
  if (!stated) return Errno("cannot stat", path);
  if ((st.st_mode & 077) != 0) {
    return Status(StatusCode::kInvalidArgument,
                  "the secrets key " + path + " is readable by others: chmod 600 it");
  }
  if (n != static_cast<ssize_t>(box.key_.size()) || more) {
    return Status(StatusCode::kInvalidArgument, "the secrets key " + path + " is not a " +
                                                    std::to_string(kKeyBytes) + "-byte key");
  }
  return box;
}

SecretBox SecretBox::Ephemeral() {
  InitSodium();
  SecretBox box;
  randombytes_buf(box.key_.data(), box.key_.size());
  return box;
}

std::string SecretBox::Seal(std::string_view plain) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(bytes, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(bytes + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), bytes,
                        key_.data());
  return std::string(kPrefix) + Base64Encode(out);
}

Result<std::string> SecretBox::Open(std::string_view sealed) const {
  auto invalid = [] {
    return Status(StatusCode::kInvalidArgument,
                  "the sealed secret cannot be opened with this server's key");
  };
  if (sealed.substr(0, kPrefix.size()) != kPrefix) return invalid();
  auto raw = Base64Decode(sealed.substr(kPrefix.size()));
  if (!raw || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return invalid();
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw->data());
  const size_t cipher = raw->size() - crypto_secretbox_NONCEBYTES;
  std::string plain(cipher - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 bytes + crypto_secretbox_NONCEBYTES, cipher, bytes,
                                 key_.data()) != 0) {
    return invalid();
  }
  return plain;
}

}  // namespace annals::delivery
