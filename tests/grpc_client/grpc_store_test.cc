// The SDK's gRPC store beyond the conformance suite: its connection strings, credentials,
// TLS, an unreachable server and events near the size limit, against a real `annals serve`.
#include "annals/grpc_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "../http/test_support.h"

namespace annals {
namespace {

using http::testing::RunAnnals;
using http::testing::ServerProcess;
using http::testing::Unique;

AppendRequest OneEvent(const std::string& stream, std::string data = R"({"n":1})") {
  AppendRequest r;
  r.stream = stream;
  ProposedEvent e;
  e.type = "PatientCheckedIn";
  e.data = std::move(data);
  r.events.push_back(std::move(e));
  return r;
}

TEST(GrpcConnectionString, ParsesKurrentDbsSingleNodeForm) {
  auto ep = ParseGrpcConnectionString(
      "kurrentdb://ad%40min:chan%3Ageit@db.local:2114?tls=true&tlsCAFile=/tmp/ca.pem"
      "&defaultDeadline=2500&nodePreference=leader");
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->host, "db.local");
  EXPECT_EQ(ep->port, 2114);
  EXPECT_EQ(ep->username, "ad@min");
  EXPECT_EQ(ep->password, "chan:geit");
  EXPECT_TRUE(ep->tls);
  EXPECT_EQ(ep->ca_file, "/tmp/ca.pem");
  EXPECT_EQ(ep->deadline, std::chrono::milliseconds(2500));
  EXPECT_TRUE(ep->annals_extensions);

  auto plain = ParseGrpcConnectionString(
      "esdb://127.0.0.1?TLS=false&tlsVerifyCert=false&annalsExtensions=false");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->annals_extensions);
  EXPECT_EQ(plain->port, 2113);
  EXPECT_FALSE(plain->tls);
  EXPECT_FALSE(plain->verify_cert);
  EXPECT_TRUE(plain->username.empty());

  auto v6 = ParseGrpcConnectionString("kdb://[::1]:2200/");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 2200);
  EXPECT_TRUE(v6->tls);  // KurrentDB's default
}

TEST(GrpcConnectionString, RefusesWhatItCannotHonour) {
  for (const char* bad :
       {"http://127.0.0.1:2113", "127.0.0.1:2113", "kurrentdb://",
        "kurrentdb+discover://cluster.local:2113", "kurrentdb://a:2113,b:2113,c:2113",
        "kurrentdb://h:0", "kurrentdb://h:99999", "kurrentdb://h:21x3", "kurrentdb://h?tls=maybe",
        "kurrentdb://h?unknownOption=1", "kurrentdb://h?tls", "kurrentdb://user@h",
        "kurrentdb://h?defaultDeadline=0", "kurrentdb://[::1:2113",
        "kurrentdb://h?annalsExtensions=no"}) {
    auto ep = ParseGrpcConnectionString(bad);
    EXPECT_FALSE(ep.ok()) << bad;
    if (!ep.ok()) {
      EXPECT_EQ(ep.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(GrpcStore, AnUnreachableServerIsUnavailable) {
  // A port nothing listens on: the server of the test below, stopped.
  std::string address;
  {
    ServerProcess server({"--store", "memory"});
    address = server.address();
  }
  auto store = ConnectGrpc({.connection_string = "kurrentdb://" + address + "?tls=false"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
}

TEST(GrpcStore, EventsNearTheSizeLimitTravelBothWays) {
  ServerProcess server({"--store", "memory"});
  auto store = ConnectGrpc({.connection_string = "kurrentdb://" + server.address() + "?tls=false"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // gRPC's default 4 MiB receive limit would refuse this read; the store lifts it.
  const std::string big = "\"" + std::string(15 << 20, 'x') + "\"";
  auto appended = (*store)->Append(OneEvent("visit-big", big));
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  auto read = (*store)->ReadStream({.stream = "visit-big"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->events[0].data, big);
  // Over the server's 16 MiB event limit: refused, nothing stored.
  auto over = (*store)->Append(OneEvent("visit-big", "\"" + std::string(17 << 20, 'y') + "\""));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kTooLarge) << over.status().ToString();
  read = (*store)->ReadStream({.stream = "visit-big"});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->last_revision, Revision{0});
}

class GrpcStoreAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / Unique("annals-grpc-auth");
    std::filesystem::create_directories(dir_);
    const std::string users = (dir_ / "users.toml").string();
    std::string out;
    ASSERT_EQ(RunAnnals({"user", "add", "alice", "--role", "writer", "--password", "wonderland",
                         "--users-file", users},
                        &out),
              0)
        << out;
    ASSERT_EQ(RunAnnals({"user", "add", "bob", "--role", "reader", "--stream", "visit-",
                         "--password", "builder", "--users-file", users},
                        &out),
              0)
        << out;
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--store", "memory", "--users-file", users});
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<EventStore> Connect(const std::string& userinfo) {
    auto store = ConnectGrpc(
        {.connection_string = "kurrentdb://" + userinfo + server_->address() + "?tls=false"});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::filesystem::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(GrpcStoreAuthTest, CredentialsDecideWhatACallerMayDo) {
  auto alice = Connect("alice:wonderland@");
  ASSERT_NE(alice, nullptr);
  ASSERT_TRUE(alice->Append(OneEvent("visit-1")).ok());
  ASSERT_TRUE(alice->Append(OneEvent("billing-1")).ok());

  auto bob = Connect("bob:builder@");
  ASSERT_NE(bob, nullptr);
  EXPECT_TRUE(bob->ReadStream({.stream = "visit-1"}).ok());
  EXPECT_EQ(bob->ReadStream({.stream = "billing-1"}).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->Append(OneEvent("visit-1")).status().code(), StatusCode::kPermissionDenied);

  auto wrong = Connect("alice:looking-glass@");
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(wrong->Append(OneEvent("visit-2")).status().code(), StatusCode::kUnauthenticated);
  auto anonymous = Connect("");
  ASSERT_NE(anonymous, nullptr);
  EXPECT_EQ(anonymous->ReadStream({.stream = "visit-1"}).status().code(),
            StatusCode::kUnauthenticated);
  // Nothing of the refused calls was stored.
  auto read = alice->ReadStream({.stream = "visit-1"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->events.size(), 1u);
}

TEST(GrpcStoreTls, ConnectsWithTheServersCaAndRefusesAnUnknownOne) {
  const auto dir = std::filesystem::temp_directory_path() / Unique("annals-grpc-tls");
  std::filesystem::create_directories(dir);
  auto file = [&](const char* name) { return (dir / name).string(); };
  // A CA, and a server certificate it signed for localhost and 127.0.0.1.
  const std::string quiet = " >/dev/null 2>&1";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca"
                         " -keyout " +
                         file("ca.key") + " -out " + file("ca.pem") + quiet)
                            .c_str()),
            0);
  ASSERT_EQ(std::system(("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout " +
                         file("key.pem") + " -out " + file("server.csr") + quiet)
                            .c_str()),
            0);
  {
    std::FILE* ext = std::fopen(file("ext.cnf").c_str(), "w");
    ASSERT_NE(ext, nullptr);
    std::fputs("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n", ext);
    std::fclose(ext);
  }
  ASSERT_EQ(std::system(("openssl x509 -req -in " + file("server.csr") + " -CA " + file("ca.pem") +
                         " -CAkey " + file("ca.key") + " -CAcreateserial -days 2 -extfile " +
                         file("ext.cnf") + " -out " + file("cert.pem") + quiet)
                            .c_str()),
            0);
  ServerProcess server(
      {"--store", "memory", "--tls-cert", file("cert.pem"), "--tls-key", file("key.pem")});
  const std::string port = server.address().substr(server.address().rfind(':') + 1);
  auto store = ConnectGrpc(
      {.connection_string = "kurrentdb://localhost:" + port + "?tlsCAFile=" + file("ca.pem")});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto appended = (*store)->Append(OneEvent("visit-tls"));
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ(appended->last_revision, Revision{0});

  // The system's roots do not know this CA: the handshake fails, the call is unavailable.
  auto untrusted = ConnectGrpc({.connection_string = "kurrentdb://localhost:" + port});
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnavailable);
  // A missing CA file is the caller's error, said before connecting.
  auto missing = ConnectGrpc(
      {.connection_string = "kurrentdb://localhost:" + port + "?tlsCAFile=" + file("none.pem")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace annals
