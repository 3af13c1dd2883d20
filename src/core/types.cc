#include "annals/types.h"

#include <pthread.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <random>

namespace annals {

Timestamp Timestamp::Now() {
  using Ticks = std::chrono::duration<int64_t, std::ratio<1, 10'000'000>>;
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return Timestamp{std::chrono::duration_cast<Ticks>(since_epoch).count()};
}

bool Uuid::IsNil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Byte offsets of the dashes in the 36-character canonical form.
constexpr bool IsDashOffset(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bumped in every child after fork(): a child must not replay its parent's random sequence,
// or both processes would hand out the same event ids.
std::atomic<uint64_t> fork_generation{0};

void OnForkChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct UuidGenerator {
  std::mt19937_64 engine;
  uint64_t generation = ~uint64_t{0};  // forces seeding on first use

  void SeedIfNeeded() {
    uint64_t current = fork_generation.load(std::memory_order_relaxed);
    if (current == generation) return;
    // random_device yields 32 bits per call: two calls give the engine a 64-bit seed.
    std::random_device device;
    uint64_t seed = (uint64_t{device()} << 32) | device();
    engine.seed(seed);
    generation = current;
  }
};

}  // namespace

void Uuid::ToChars(char* out) const {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *out++ = '-';
    *out++ = kHexDigits[bytes[i] >> 4];
    *out++ = kHexDigits[bytes[i] & 0xf];
  }
}

std::string Uuid::ToString() const {
  std::string out(kTextSize, '\0');
  ToChars(out.data());
  return out;
}

std::optional<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid uuid;
  size_t byte = 0;
  for (size_t i = 0; i < text.size();) {
    if (IsDashOffset(i)) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);  // in range: no pair straddles a dash or the end
    if (hi < 0 || lo < 0) return std::nullopt;
    uuid.bytes[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return uuid;
}

Uuid Uuid::Random() {
  // Registered once per process (a function-local static initialises exactly once).
  [[maybe_unused]] static const int fork_handler = pthread_atfork(nullptr, nullptr, OnForkChild);
  // One generator per thread: no lock on the append path, and random_device (a syscall) is
  // only read when a thread first needs an id.
  thread_local UuidGenerator generator;
  generator.SeedIfNeeded();
  uint64_t halves[2] = {generator.engine(), generator.engine()};
  Uuid uuid;
  std::memcpy(uuid.bytes.data(), halves, sizeof halves);
  uuid.bytes[6] = (uuid.bytes[6] & 0x0f) | 0x40;  // version 4
  uuid.bytes[8] = (uuid.bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant (10xx)
  return uuid;
}

std::string ExpectedRevision::ToString() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no_stream";
    case Kind::kStreamExists:
      return "stream_exists";
    case Kind::kExact:
      break;
  }
  return std::to_string(revision_);
}

std::optional<ExpectedRevision> ExpectedRevision::Parse(std::string_view text) {
  if (text == "any") return Any();
  if (text == "no_stream") return NoStream();
  if (text == "stream_exists") return StreamExists();
  // from_chars on an unsigned type already refuses '-', '+' and whitespace; it reports
  // overflow as result_out_of_range. A leading digit check keeps empty text out.
  if (text.empty() || text[0] < '0' || text[0] > '9') return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return Exact(Revision{value});
}

std::string_view CategoryOf(std::string_view stream) {
  return stream.substr(0, stream.find('-'));  // npos keeps the whole name
}

std::string MetadataStreamOf(std::string_view stream) {
  std::string out;
  out.reserve(stream.size() + 2);
  out += "$$";
  out += stream;
  return out;
}

}  // namespace annals
