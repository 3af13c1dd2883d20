#include "engine/index/recent_event_ids.h"

#include <cstring>
#include <mutex>
#include <random>

namespace annals::index {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

const uint64_t kSeed = [] {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}();

}  // namespace

size_t UuidHash::operator()(const Uuid& id) const noexcept {
  uint64_t high, low;
  std::memcpy(&high, id.bytes.data(), 8);
  std::memcpy(&low, id.bytes.data() + 8, 8);
  return Mix(high ^ kSeed) ^ Mix(low + kSeed);
}

void RecentEventIds::Add(const EventIdPuts& ids) {
  std::unique_lock lock(mu_);
  DropPersisted();
  Block block{kUnwritten, {}};
  block.ids.reserve(ids.size());
  for (const auto& [id, entry] : ids) {
    entries_.insert_or_assign(id, entry);
    block.ids.push_back(id);
  }
  blocks_.push_back(std::move(block));
}

void RecentEventIds::Written(uint64_t last_sequence) {
  std::unique_lock lock(mu_);
  if (!blocks_.empty()) blocks_.back().last_sequence = last_sequence;
  DropPersisted();
}

void RecentEventIds::Abandon() {
  std::unique_lock lock(mu_);
  if (blocks_.empty() || blocks_.back().last_sequence != kUnwritten) return;
  for (const Uuid& id : blocks_.back().ids) entries_.erase(id);
  blocks_.pop_back();
}

void RecentEventIds::NotePersisted(uint64_t sequence) {
  uint64_t seen = persisted_.load(std::memory_order_relaxed);
  while (seen < sequence && !persisted_.compare_exchange_weak(seen, sequence)) {
  }
}

void RecentEventIds::DropPersisted() {
  const uint64_t persisted = persisted_.load();
  while (!blocks_.empty() && blocks_.front().last_sequence <= persisted) {
    for (const Uuid& id : blocks_.front().ids) entries_.erase(id);
    blocks_.pop_front();
  }
}

std::optional<EventIdEntry> RecentEventIds::Find(const Uuid& id) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t RecentEventIds::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

}  // namespace annals::index
