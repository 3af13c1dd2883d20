#include "engine/index/rocks_logger.h"

#include <cstdarg>
#include <cstdio>
#include <string>

#include <spdlog/spdlog.h>

namespace annals::index {
namespace {

spdlog::level::level_enum LevelOf(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::WARN_LEVEL:
      return spdlog::level::warn;
    case rocksdb::InfoLogLevel::ERROR_LEVEL:
    case rocksdb::InfoLogLevel::FATAL_LEVEL:
      return spdlog::level::err;
    default:
      return spdlog::level::debug;
  }
}

class RocksLogger final : public rocksdb::Logger {
 public:
  RocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::DEBUG_LEVEL) {}

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    const auto spd_level = LevelOf(level);
    // Formatting is skipped for what the log drops: RocksDB's periodic statistics are long.
    if (!spdlog::should_log(spd_level)) return;
    va_list copy;
    va_copy(copy, ap);
    const int length = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    if (length <= 0) return;
    std::string line(static_cast<size_t>(length), '\0');
    std::vsnprintf(line.data(), line.size() + 1, format, ap);
    spdlog::log(spd_level, "index (rocksdb): {}", line);
  }

  // Lines without a level (RocksDB's own headers) are informational.
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> MakeRocksLogger() { return std::make_shared<RocksLogger>(); }

}  // namespace annals::index
