// The data directory: its lock, its manifest and where each part lives.
//
//   <dir>/LOCK              held (flock) by the one process that has the directory open
//   <dir>/MANIFEST          format version and segment size, replaced atomically
//   <dir>/log/*.seg         the log (docs/log-format.md)
//   <dir>/index/            RocksDB (docs/index-format.md), derived from the log
//   <dir>/quarantine/       damaged files moved aside by recovery, never deleted by Annals
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "annals/status.h"

namespace annals::engine {

class DataDir {
 public:
  ~DataDir();
  // Creates the directory when missing, takes the lock (kUnavailable when another process
  // has it) and reads the manifest, writing one with `segment_bytes` for a new directory.
  static Result<std::unique_ptr<DataDir>> Open(const std::string& path, uint64_t segment_bytes);

  const std::string& path() const { return path_; }
  std::string log_dir() const { return path_ + "/log"; }
  std::string index_dir() const { return path_ + "/index"; }
  std::string quarantine_dir() const { return path_ + "/quarantine"; }
  uint64_t segment_bytes() const { return segment_bytes_; }

 private:
  DataDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  Status LoadOrCreateManifest(uint64_t segment_bytes);

  std::string path_;
  int lock_fd_;
  uint64_t segment_bytes_ = 0;
};

// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync the directory.
Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace annals::engine
