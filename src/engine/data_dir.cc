#include "engine/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/log/log_format.h"
#include "engine/log/segments.h"

namespace annals::engine {
namespace {

constexpr const char* kManifestName = "MANIFEST";

Status Errno(std::string_view what, const std::string& path) {
  return Status(StatusCode::kIoError, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path, uint64_t segment_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Status(StatusCode::kIoError,
                  fmt::format("cannot create data directory {}: {}", path, ec.message()));
  }
  const std::string lock_path = path + "/LOCK";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot open", lock_path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Status(
        StatusCode::kUnavailable,
        fmt::format("data directory {} is in use by another process (pid {})", path, pid));
  }
  const std::string me = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    ::close(fd);
    return Errno("cannot write", lock_path);
  }
  std::unique_ptr<DataDir> dir(new DataDir(path, fd));
  ANNALS_RETURN_IF_ERROR(dir->LoadOrCreateManifest(segment_bytes));
  for (const std::string& sub : {dir->log_dir(), dir->quarantine_dir()}) {
    std::filesystem::create_directories(sub, ec);
    if (ec)
      return Status(StatusCode::kIoError, fmt::format("cannot create {}: {}", sub, ec.message()));
  }
  return dir;
}

Status DataDir::LoadOrCreateManifest(uint64_t segment_bytes) {
  const std::string manifest = path_ + "/" + kManifestName;
  std::ifstream in(manifest);
  if (!in) {
    if (segment_bytes < log::kMinSegmentBytes || segment_bytes % 4096 != 0) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("segment size {} must be a multiple of 4096 and at least {}",
                                segment_bytes, log::kMinSegmentBytes));
    }
    segment_bytes_ = segment_bytes;
    return WriteFileAtomically(manifest, fmt::format("annals-data-dir\nformat_version={}\n"
                                                     "segment_bytes={}\n",
                                                     log::kFormatVersion, segment_bytes));
  }
  std::string line;
  uint32_t version = 0;
  bool magic = false;
  while (std::getline(in, line)) {
    if (line == "annals-data-dir") magic = true;
    if (line.rfind("format_version=", 0) == 0) version = std::stoul(line.substr(15));
    if (line.rfind("segment_bytes=", 0) == 0) segment_bytes_ = std::stoull(line.substr(14));
  }
  if (!magic || segment_bytes_ < log::kMinSegmentBytes) {
    return Status(StatusCode::kCorruption, fmt::format("{} is damaged or not Annals'", manifest));
  }
  if (version != log::kFormatVersion) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} has format version {}; this build reads version {}", path_,
                              version, log::kFormatVersion));
  }
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t w = ::write(fd, contents.data() + done, contents.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      ::close(fd);
      return Errno("cannot write", tmp);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return Errno("cannot sync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename", tmp);
  return log::SyncDirectory(std::filesystem::path(path).parent_path().string());
}

}  // namespace annals::engine
