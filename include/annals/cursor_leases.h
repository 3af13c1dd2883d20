// Cursor leases: which process drives a delivery cursor (a persistent group, a webhook, a
// relay) when several processes share one store. The DeliveryService drives a cursor only
// while it holds the cursor's lease, so each cursor has one driver at a time, and another
// process takes the cursor over when its holder dies (docs/postgres.md, "Delivery leases").
//
// A lease is named by a key the caller makes unique per cursor ("Webhook/orders"). A lease is
// held until Release, or until the implementation loses it (its connection broke): IsHeld
// then answers false, and the caller must stop driving the cursor at once, since another
// process may take it over. Losing a lease never loses events: delivery is at least once,
// and the next holder resumes from the cursor's stored checkpoint.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "annals/status.h"

namespace annals {

class CursorLeases {
 public:
  virtual ~CursorLeases() = default;
  // Takes the lease when it is free; true when this object holds it (already or now).
  virtual bool TryAcquire(const std::string& key) = 0;
  // Gives a held lease back (a no-op otherwise).
  virtual void Release(const std::string& key) = 0;
  // Whether the lease is still held, as of the last Refresh.
  virtual bool IsHeld(const std::string& key) = 0;
  // Checks that held leases are still held (a round trip for a remote lock service) and
  // reconnects after a loss. The DeliveryService calls it about once a second.
  virtual void Refresh() = 0;
  // The name of the process that holds the lease, to tell a client which process drives the
  // cursor: nullopt when none does, or this object holds it. Cheap enough for an error path.
  virtual Result<std::optional<std::string>> Holder(const std::string& key) {
    return std::optional<std::string>();
  }
};

// Every lease granted at once: for a store only one process uses (the embedded engine locks
// its directory, the in-memory store lives in its process).
std::unique_ptr<CursorLeases> LocalCursorLeases();

}  // namespace annals
