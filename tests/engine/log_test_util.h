// Byte-level helpers for format and recovery tests: find segment files, flip, zero or scribble
// over bytes, as a crash or a bad disk would.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace annals::testing {

// A small tmpfs mounted over `path` for the life of the object, to run out of space on purpose.
// Mounting needs root (as `make test` runs); `mounted()` is false elsewhere: skip the test.
class SmallFilesystem {
 public:
  SmallFilesystem(std::string path, const std::string& size) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

  // Writes zeros to `file` until the filesystem refuses more.
  static void Fill(const std::string& file) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::string chunk(64 << 10, '\0');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    ::close(fd);
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

// A fresh directory under /tmp, removed when the test passes.
class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/annals-test-XXXXXX";
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string SegmentPath(const std::string& data_dir, uint64_t id) {
  char name[32];
  std::snprintf(name, sizeof name, "%020lu.seg", static_cast<unsigned long>(id));
  return data_dir + "/log/" + name;
}

inline std::string ReadFile(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

inline void WriteAt(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::string byte = ReadFile(path).substr(offset, 1);
  byte[0] = static_cast<char>(byte[0] ^ 0x5a);
  WriteAt(path, offset, byte);
}

inline void ZeroRange(const std::string& path, uint64_t offset, uint64_t n) {
  WriteAt(path, offset, std::string(n, '\0'));
}

inline void ScribbleRange(const std::string& path, uint64_t offset, uint64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string junk(n, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  WriteAt(path, offset, junk);
}

}  // namespace annals::testing
