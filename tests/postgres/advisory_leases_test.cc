// The PostgreSQL cursor leases (src/postgres/advisory_leases.h): one holder per key across
// lease objects (nodes), freed by Release or by the holder's connection closing, and reported
// lost when the server ends the holder's session.
#include "postgres/advisory_leases.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "annals/postgres_store.h"
#include "pg_test_server.h"

namespace annals {
namespace {

std::unique_ptr<CursorLeases> OpenLeases(const std::string& conninfo) {
  auto leases = OpenPostgresLeases({.conninfo = conninfo});
  EXPECT_TRUE(leases.ok()) << leases.status().ToString();
  return leases.ok() ? std::move(leases).value() : nullptr;
}

// The server frees a closed session's locks when its backend exits, a moment after the
// client closed it: a node that takes over retries (the DeliveryService, every second).
bool AcquiredWithin(CursorLeases& leases, const std::string& key) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!leases.TryAcquire(key)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(AdvisoryLeasesTest, OneHolderPerKeyUntilReleasedOrClosed) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto a = OpenLeases(conninfo);
  auto b = OpenLeases(conninfo);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(a->TryAcquire("Webhook/orders"));
  EXPECT_TRUE(a->TryAcquire("Webhook/orders"));  // held already
  EXPECT_FALSE(b->TryAcquire("Webhook/orders"));
  EXPECT_TRUE(b->TryAcquire("Group/orders"));  // another key
  EXPECT_TRUE(a->IsHeld("Webhook/orders"));
  EXPECT_FALSE(b->IsHeld("Webhook/orders"));
  a->Release("Webhook/orders");
  EXPECT_FALSE(a->IsHeld("Webhook/orders"));
  EXPECT_TRUE(b->TryAcquire("Webhook/orders"));
  EXPECT_FALSE(a->TryAcquire("Webhook/orders"));
  // Closing a holder (a node that stops or dies) frees everything it held.
  b.reset();
  EXPECT_TRUE(AcquiredWithin(*a, "Webhook/orders"));
  EXPECT_TRUE(AcquiredWithin(*a, "Group/orders"));
  // Stores in other schemas of the database have leases of their own.
  auto other = OpenLeases(pg::testing::FreshSchemaConninfo());
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->TryAcquire("Webhook/orders"));
}

// Holder names the session that holds a key (its application_name, the node's name), for the
// 503 a node that does not drive a group answers; no one when the key is free or held here.
TEST(AdvisoryLeasesTest, HolderNamesTheNodeThatHoldsTheLease) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto a = OpenPostgresLeases({.conninfo = conninfo, .application_name = "annals node-a"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = OpenLeases(conninfo);
  ASSERT_NE(b, nullptr);
  // Several keys, so that lock keys with and without the top bit (pg_locks' classid is the
  // high half) are almost surely among them.
  for (const std::string key : {"Group/g1", "Group/g2", "Webhook/w1", "Relay/r1"}) {
    auto none = b->Holder(key);
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_EQ(*none, std::nullopt) << key;
  }
  for (const std::string key : {"Group/g3", "Group/g4", "Webhook/w2", "Relay/r2"}) {
    ASSERT_TRUE((*a)->TryAcquire(key));
    auto holder = b->Holder(key);
    ASSERT_TRUE(holder.ok()) << holder.status().ToString();
    EXPECT_EQ(*holder, "annals node-a") << key;
    auto self = (*a)->Holder(key);
    ASSERT_TRUE(self.ok());
    EXPECT_EQ(*self, std::nullopt) << key;  // held here: no other node drives it
  }
}

TEST(AdvisoryLeasesTest, ATerminatedSessionLosesItsLeasesAndReconnects) {
  const std::string conninfo = pg::testing::FreshSchemaConninfo();
  auto a = OpenLeases(conninfo);
  auto b = OpenLeases(conninfo);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->TryAcquire("Relay/bus"));
  a->Refresh();
  EXPECT_TRUE(a->IsHeld("Relay/bus"));  // a healthy session keeps its leases
  // The server ends the session that holds the lock (as a restart or a failover would).
  ASSERT_EQ(pg::testing::TerminateLeaseHolder(conninfo, "Relay/bus"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  a->Refresh();
  EXPECT_FALSE(a->IsHeld("Relay/bus"));
  EXPECT_TRUE(AcquiredWithin(*b, "Relay/bus"));
  // After the reconnect delay the session is back, and the lease is the other node's now.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  a->Refresh();
  EXPECT_FALSE(a->TryAcquire("Relay/bus"));
  b->Release("Relay/bus");
  EXPECT_TRUE(a->TryAcquire("Relay/bus"));
}

TEST(AdvisoryLeasesTest, AnUnreachableServerIsUnavailable) {
  auto leases = OpenPostgresLeases({.conninfo = "host=/nonexistent-annals-dir port=1"});
  EXPECT_EQ(leases.status().code(), StatusCode::kUnavailable) << leases.status().ToString();
  EXPECT_NE(leases.status().message().find("cannot connect"), std::string::npos);
}

}  // namespace
}  // namespace annals
