// The log's segment files: a logical byte stream cut into fixed-size, preallocated files.
//
// Logical position P lives in segment P / segment_bytes at offset P % segment_bytes; the first
// kSegmentHeaderBytes of each segment are its header, so records start at base + 64.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals::log {

class SegmentFile {
 public:
  ~SegmentFile();
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  // Creates a segment, writes and syncs its header, syncs the directory. `previous_end` is
  // the position of the previous segment's end record (0 for the first). When `prepared` names
  // a zero-filled file of the right size, that file becomes the segment; otherwise a new one
  // is preallocated.
  static Result<std::shared_ptr<SegmentFile>> Create(const std::string& dir, uint64_t id,
                                                     uint64_t segment_bytes, uint64_t previous_end,
                                                     const std::string& prepared = "");
  static std::string PreparedFileName(uint64_t id);
  // Opens an existing segment and checks its header against `id` and `segment_bytes`.
  static Result<std::shared_ptr<SegmentFile>> Open(const std::string& dir, uint64_t id,
                                                   uint64_t segment_bytes);
  static std::string FileName(uint64_t id);
  // Parses "<20 digits>.seg"; false for any other name.
  static bool ParseFileName(std::string_view name, uint64_t* id);

  // Reads exactly n bytes at offset (thread-safe; from the mapping, else pread).
  Status Read(uint64_t offset, size_t n, char* dst) const;
  // The whole file mapped read-only, or nullptr when mapping failed. Readers decode records in
  // place through it; bytes below the committed head never change, and segment files are
  // never shrunk, so the mapping stays valid for the file's life.
  const char* mapped() const { return map_; }
  // Writes all bytes at offset (single writer).
  Status Write(uint64_t offset, std::string_view bytes);
  Status Sync();
  // Zeroes [offset, end of file) and syncs: how a torn tail is cut without shrinking the file.
  Status ZeroFrom(uint64_t offset);

  uint64_t id() const { return id_; }
  uint64_t size() const { return size_; }
  uint64_t previous_end() const { return previous_end_; }
  const std::string& path() const { return path_; }

 private:
  SegmentFile(int fd, std::string path, uint64_t id, uint64_t size, uint64_t previous_end)
      : fd_(fd), path_(std::move(path)), id_(id), size_(size), previous_end_(previous_end) {}
  void Map();

  int fd_;
  const char* map_ = nullptr;
  std::string path_;
  uint64_t id_;
  uint64_t size_;
  uint64_t previous_end_;
};

// All segments of one log, shared by the writer and the readers.
class SegmentSet {
 public:
  SegmentSet(std::string dir, uint64_t segment_bytes)
      : dir_(std::move(dir)), segment_bytes_(segment_bytes) {}

  // Opens every segment in the directory; ids must be contiguous from the lowest.
  Status OpenAll();
  // Creates segment `id` (the next one) and makes it visible to readers. Uses the file
  // Prepare(id) made, when there is one.
  Status Add(uint64_t id, uint64_t previous_end);
  // Writes a zero-filled file for a future segment `id` (slow: call it off the write path).
  // Syncing writes into blocks that were really written costs less than into preallocated
  // (unwritten) extents, whose conversion the file system must journal on every fdatasync.
  Status Prepare(uint64_t id);
  // Removes files left by a Prepare or a Create that a crash interrupted.
  Status RemoveLeftovers();

  // Moves segment `id` (and every later one) into `quarantine_dir`: how recovery removes the
  // segments after a cut made by the truncate policy.
  Status QuarantineFrom(uint64_t id, const std::string& quarantine_dir);
  // Copies segment `id` into `quarantine_dir`, keeping the original.
  Status CopyToQuarantine(uint64_t id, const std::string& quarantine_dir) const;

  std::shared_ptr<SegmentFile> Get(uint64_t id) const;
  std::shared_ptr<SegmentFile> Last() const;
  uint64_t Count() const;
  bool Empty() const { return Count() == 0; }
  // The lowest segment id present (0 until old segments are removed by a scavenge).
  uint64_t FirstId() const;

  uint64_t segment_bytes() const { return segment_bytes_; }
  uint64_t SegmentOf(uint64_t position) const { return position / segment_bytes_; }
  uint64_t OffsetOf(uint64_t position) const { return position % segment_bytes_; }
  uint64_t BaseOf(uint64_t segment) const { return segment * segment_bytes_; }
  uint64_t FirstRecordOf(uint64_t segment) const;
  const std::string& dir() const { return dir_; }

  // Reads n bytes at a logical position (must not cross a segment boundary).
  Status ReadAt(uint64_t position, size_t n, char* dst) const;
  // Points at n bytes at a logical position inside a mapped segment, without copying; nullptr
  // when the segment is not mapped (then use ReadAt).
  const char* ViewAt(uint64_t position, size_t n) const;

 private:
  std::string dir_;
  uint64_t segment_bytes_;
  mutable std::shared_mutex mu_;
  std::map<uint64_t, std::shared_ptr<SegmentFile>> segments_;
};

// fsyncs a directory so a created or renamed entry in it survives a crash.
Status SyncDirectory(const std::string& dir);

}  // namespace annals::log
