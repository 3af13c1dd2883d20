#include "engine/log/segments.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "core/binary.h"
#include "core/crc32c.h"
#include "engine/log/log_format.h"

namespace annals::log {
namespace {

Status Errno(std::string_view what, const std::string& path) {
  return Status(StatusCode::kIoError, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string EncodeSegmentHeader(uint64_t id, uint64_t segment_bytes, uint64_t previous_end) {
  std::string h;
  h.append(kSegmentMagic, sizeof kSegmentMagic);
  PutFixed32(&h, kFormatVersion);
  PutFixed32(&h, 0);
  PutFixed64(&h, id);
  PutFixed64(&h, segment_bytes);
  PutFixed64(&h, id * segment_bytes);
  PutFixed64(&h, previous_end);
  h.append(12, '\0');
  PutFixed32(&h, crc32c::Value(h.data(), h.size()));
  return h;
}

}  // namespace

SegmentFile::~SegmentFile() {
  if (map_ != nullptr) ::munmap(const_cast<char*>(map_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void SegmentFile::Map() {
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) return;  // reads fall back to pread
  ::madvise(p, size_, MADV_SEQUENTIAL);
  map_ = static_cast<const char*>(p);
}

std::string SegmentFile::FileName(uint64_t id) { return fmt::format("{:020}.seg", id); }

bool SegmentFile::ParseFileName(std::string_view name, uint64_t* id) {
  if (name.size() != 24 || name.substr(20) != ".seg") return false;
  uint64_t v = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *id = v;
  return true;
}

Result<std::shared_ptr<SegmentFile>> SegmentFile::Create(const std::string& dir, uint64_t id,
                                                         uint64_t segment_bytes,
                                                         uint64_t previous_end,
                                                         const std::string& prepared) {
  const std::string path = dir + "/" + FileName(id);
  // Build the file under a temporary name so a crash never leaves a segment without a header.
  std::string tmp = path + ".tmp";
  int fd = -1;
  struct stat st;
  if (!prepared.empty() && ::stat(prepared.c_str(), &st) == 0 &&
      static_cast<uint64_t>(st.st_size) == segment_bytes) {
    fd = ::open(prepared.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) tmp = prepared;
  }
  if (fd < 0) {
    fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("cannot create segment", tmp);
    // Allocate every block now: the file never grows, so no fdatasync has to log a new size.
    if (::fallocate(fd, 0, 0, static_cast<off_t>(segment_bytes)) != 0) {
      Status failed = Errno("cannot preallocate segment", tmp);
      ::close(fd);
      // A full disk may have allocated part of the file: give the space back at once.
      ::unlink(tmp.c_str());
      return failed;
    }
  }
  auto file =
      std::shared_ptr<SegmentFile>(new SegmentFile(fd, path, id, segment_bytes, previous_end));
  ANNALS_RETURN_IF_ERROR(file->Write(0, EncodeSegmentHeader(id, segment_bytes, previous_end)));
  if (::fsync(fd) != 0) return Errno("cannot sync segment", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename segment", tmp);
  ANNALS_RETURN_IF_ERROR(SyncDirectory(dir));
  file->Map();
  return file;
}

Result<std::shared_ptr<SegmentFile>> SegmentFile::Open(const std::string& dir, uint64_t id,
                                                       uint64_t segment_bytes) {
  const std::string path = dir + "/" + FileName(id);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open segment", path);
  auto file = std::shared_ptr<SegmentFile>(new SegmentFile(fd, path, id, segment_bytes, 0));
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno("cannot stat segment", path);
  if (static_cast<uint64_t>(st.st_size) != segment_bytes) {
    return Status(StatusCode::kCorruption, fmt::format("segment {} is {} bytes, expected {}", path,
                                                       st.st_size, segment_bytes));
  }
  char h[kSegmentHeaderBytes];
  ANNALS_RETURN_IF_ERROR(file->Read(0, sizeof h, h));
  file->previous_end_ = DecodeFixed64(h + 40);
  if (std::string_view(h, kSegmentHeaderBytes) !=
      EncodeSegmentHeader(id, segment_bytes, file->previous_end_)) {
    return Status(StatusCode::kCorruption,
                  fmt::format("segment {} has a damaged or foreign header", path));
  }
  file->Map();
  return file;
}

Status SegmentFile::Read(uint64_t offset, size_t n, char* dst) const {
  if (offset > size_ || n > size_ - offset) {
    return Status(StatusCode::kCorruption,
                  fmt::format("read of {} bytes at {} runs past the end of {}", n, offset, path_));
  }
  if (map_ != nullptr) {
    std::memcpy(dst, map_ + offset, n);
    return Status::Ok();
  }
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read", path_);
    }
    if (r == 0) return Status(StatusCode::kCorruption, "unexpected end of " + path_);
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status SegmentFile::Write(uint64_t offset, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path_);
    }
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status SegmentFile::Sync() {
  if (::fdatasync(fd_) != 0) return Errno("cannot fdatasync", path_);
  return Status::Ok();
}

Status SegmentFile::ZeroFrom(uint64_t offset) {
  if (offset >= size_) return Status::Ok();
  if (::fallocate(fd_, FALLOC_FL_ZERO_RANGE, static_cast<off_t>(offset),
                  static_cast<off_t>(size_ - offset)) != 0) {
    // Not every file system has ZERO_RANGE: write the zeros instead.
    std::string zeros(1 << 20, '\0');
    for (uint64_t at = offset; at < size_; at += zeros.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), size_ - at));
      ANNALS_RETURN_IF_ERROR(Write(at, std::string_view(zeros.data(), n)));
    }
  }
  return Sync();
}

Status SegmentSet::OpenAll() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Errno("cannot list", dir_);
  std::vector<uint64_t> ids;
  while (dirent* e = ::readdir(d)) {
    uint64_t id;
    if (SegmentFile::ParseFileName(e->d_name, &id)) ids.push_back(id);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  for (size_t i = 1; i < ids.size(); ++i) {
    if (ids[i] != ids[i - 1] + 1) {
      return Status(StatusCode::kCorruption,
                    fmt::format("segment {} is missing from {} (found {} then {})", ids[i - 1] + 1,
                                dir_, ids[i - 1], ids[i]));
    }
  }
  std::unique_lock lock(mu_);
  for (uint64_t id : ids) {
    auto file = SegmentFile::Open(dir_, id, segment_bytes_);
    if (!file.ok()) return file.status();
    segments_[id] = std::move(file).value();
  }
  return Status::Ok();
}

std::string SegmentFile::PreparedFileName(uint64_t id) { return FileName(id) + ".prepared"; }

Status SegmentSet::Prepare(uint64_t id) {
  const std::string path = dir_ + "/" + SegmentFile::PreparedFileName(id);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  // Written and flushed a MiB at a time: the whole file left to one final fdatasync (or to
  // the kernel's writeback) is hundreds of MiB queued on the disk at once, and the writer's
  // own fdatasync waits behind it (appends stalled 0.5 s; docs/performance.md). Each chunk is
  // on the disk before the next is written, so an append's flush waits for at most one.
  constexpr uint64_t kChunk = 1 << 20;
  const std::string zeros(1 << 20, '\0');
  Status status;
  for (uint64_t at = 0; at < segment_bytes_ && status.ok(); at += zeros.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), segment_bytes_ - at));
    if (::pwrite(fd, zeros.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n)) {
      status = Errno("cannot write", tmp);
    } else if ((at + n) % kChunk == 0 || at + n == segment_bytes_) {
      const uint64_t from = (at + n - 1) / kChunk * kChunk;
      if (::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(at + n - from),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
        status = Errno("cannot flush", tmp);
      }
    }
  }
  if (status.ok() && ::fdatasync(fd) != 0) status = Errno("cannot sync", tmp);
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = Errno("cannot rename", tmp);
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

Status SegmentSet::RemoveLeftovers() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Errno("cannot list", dir_);
  std::vector<std::string> leftovers;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.ends_with(".tmp") || name.ends_with(".prepared")) leftovers.emplace_back(name);
  }
  ::closedir(d);
  for (const std::string& name : leftovers) ::unlink((dir_ + "/" + name).c_str());
  return Status::Ok();
}

Status SegmentSet::Add(uint64_t id, uint64_t previous_end) {
  auto file = SegmentFile::Create(dir_, id, segment_bytes_, previous_end,
                                  dir_ + "/" + SegmentFile::PreparedFileName(id));
  if (!file.ok()) return file.status();
  std::unique_lock lock(mu_);
  segments_[id] = std::move(file).value();
  return Status::Ok();
}

Status SegmentSet::QuarantineFrom(uint64_t id, const std::string& quarantine_dir) {
  std::unique_lock lock(mu_);
  for (auto it = segments_.lower_bound(id); it != segments_.end();) {
    const std::string target = quarantine_dir + "/" + SegmentFile::FileName(it->first);
    if (::rename(it->second->path().c_str(), target.c_str()) != 0) {
      return Errno("cannot move to quarantine", it->second->path());
    }
    it = segments_.erase(it);
  }
  ANNALS_RETURN_IF_ERROR(SyncDirectory(quarantine_dir));
  return SyncDirectory(dir_);
}

Status SegmentSet::CopyToQuarantine(uint64_t id, const std::string& quarantine_dir) const {
  auto file = Get(id);
  if (file == nullptr) return Status(StatusCode::kInternal, "no segment to quarantine");
  const std::string target =
      fmt::format("{}/{}.damaged-{}", quarantine_dir, SegmentFile::FileName(id), ::time(nullptr));
  std::error_code ec;
  std::filesystem::copy_file(file->path(), target, ec);
  if (ec) {
    return Status(StatusCode::kIoError,
                  fmt::format("cannot copy {} to {}: {}", file->path(), target, ec.message()));
  }
  return SyncDirectory(quarantine_dir);
}

std::shared_ptr<SegmentFile> SegmentSet::Get(uint64_t id) const {
  std::shared_lock lock(mu_);
  auto it = segments_.find(id);
  return it == segments_.end() ? nullptr : it->second;
}

std::shared_ptr<SegmentFile> SegmentSet::Last() const {
  std::shared_lock lock(mu_);
  return segments_.empty() ? nullptr : segments_.rbegin()->second;
}

uint64_t SegmentSet::Count() const {
  std::shared_lock lock(mu_);
  return segments_.size();
}

uint64_t SegmentSet::FirstId() const {
  std::shared_lock lock(mu_);
  return segments_.empty() ? 0 : segments_.begin()->first;
}

uint64_t SegmentSet::FirstRecordOf(uint64_t segment) const {
  return BaseOf(segment) + kSegmentHeaderBytes;
}

Status SegmentSet::ReadAt(uint64_t position, size_t n, char* dst) const {
  auto file = Get(SegmentOf(position));
  if (file == nullptr) {
    return Status(StatusCode::kCorruption,
                  fmt::format("position {} is in segment {}, which does not exist", position,
                              SegmentOf(position)));
  }
  return file->Read(OffsetOf(position), n, dst);
}

const char* SegmentSet::ViewAt(uint64_t position, size_t n) const {
  auto file = Get(SegmentOf(position));
  const uint64_t offset = OffsetOf(position);
  if (file == nullptr || file->mapped() == nullptr || offset + n > file->size()) return nullptr;
  return file->mapped() + offset;
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync directory", dir);
  return Status::Ok();
}

}  // namespace annals::log
