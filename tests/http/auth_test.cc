// Authentication and authorization of `annals serve --users-file`: HTTP Basic, API keys,
// roles, stream-prefix ACLs, and the `annals user` commands that manage the file.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_support.h"

namespace annals::http::testing {
namespace {

std::string BasicHeader(const std::string& user, const std::string& password) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return "Authorization: Basic " + out;
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new std::filesystem::path(std::filesystem::temp_directory_path() / Unique("annals-auth"));
    std::filesystem::create_directories(*dir_);
    file_ = new std::string((*dir_ / "users.toml").string());
    std::string out;
    ASSERT_EQ(RunAnnals({"user", "add", "alice", "--role", "writer", "--password", "wonderland",
                         "--users-file", *file_},
                        &out),
              0)
        << out;
    out.clear();
    ASSERT_EQ(RunAnnals({"user", "add", "bob", "--role", "reader", "--stream", "visit-",
                         "--password", "builder", "--users-file", *file_},
                        &out),
              0)
        << out;
    out.clear();
    ASSERT_EQ(
        RunAnnals({"user", "add-key", "ops", "--role", "admin", "--users-file", *file_}, &out), 0)
        << out;
    token_ = new std::string(out.substr(0, out.find('\n')));
    ASSERT_EQ(token_->rfind("annals_", 0), 0u) << out;
    server_ = new ServerProcess({"--users-file", *file_});
  }
  static void TearDownTestSuite() {
    delete server_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete file_;
    delete token_;
  }
  static std::string Url(const std::string& path) { return server_->Url(path); }
  static std::string Alice() { return BasicHeader("alice", "wonderland"); }
  static std::string Bob() { return BasicHeader("bob", "builder"); }
  static std::string Ops() { return "Authorization: Bearer " + *token_; }
  static std::string Body() { return R"({"events":[{"type":"A","data":{}}]})"; }

  static std::filesystem::path* dir_;
  static std::string* file_;
  static std::string* token_;
  static ServerProcess* server_;
};
std::filesystem::path* AuthTest::dir_ = nullptr;
std::string* AuthTest::file_ = nullptr;
std::string* AuthTest::token_ = nullptr;
ServerProcess* AuthTest::server_ = nullptr;

TEST_F(AuthTest, AnonymousRequestsAre401ExceptHealth) {
  EXPECT_EQ(Http("GET", Url("/health/live")).status, 204);
  EXPECT_EQ(Http("GET", Url("/health/ready")).status, 200);
  auto r = Http("GET", Url("/streams/visit-1"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("content-type"), "application/problem+json");
  EXPECT_EQ(r.json()["type"], "/problems/unauthenticated");
  int challenges = 0;  // one WWW-Authenticate header per scheme
  for (const auto& line : r.header_lines) {
    if (line.rfind("WWW-Authenticate: Basic", 0) == 0) ++challenges;
    if (line.rfind("WWW-Authenticate: Bearer", 0) == 0) ++challenges;
  }
  EXPECT_EQ(challenges, 2);
  EXPECT_EQ(Http("POST", Url("/streams/visit-1"), Body()).status, 401);
  EXPECT_EQ(Http("GET", Url("/metrics")).status, 401);
}

TEST_F(AuthTest, BadCredentialsAre401) {
  EXPECT_EQ(Http("GET", Url("/info"), "", {BasicHeader("alice", "nope")}).status, 401);
  EXPECT_EQ(Http("GET", Url("/info"), "", {BasicHeader("mallory", "x")}).status, 401);
  EXPECT_EQ(Http("GET", Url("/info"), "", {"Authorization: Bearer annals_00000000_ff"}).status,
            401);
  EXPECT_EQ(Http("GET", Url("/info"), "", {"Authorization: Digest x"}).status, 401);
  EXPECT_EQ(Http("GET", Url("/info"), "", {"Authorization: Basic !!!"}).status, 401);
}

TEST_F(AuthTest, RolesDecideWhatAPrincipalMayDo) {
  ASSERT_EQ(Http("POST", Url("/streams/visit-1"), Body(), {Alice()}).status, 201);
  // Cached after the first check: the second request is fast and still correct.
  ASSERT_EQ(Http("POST", Url("/streams/visit-1"), Body(), {Alice()}).status, 201);
  EXPECT_EQ(Http("GET", Url("/streams/visit-1"), "", {Alice()}).status, 200);
  EXPECT_EQ(Http("GET", Url("/all"), "", {Alice()}).status, 200);
  EXPECT_EQ(Http("PUT", Url("/streams/visit-1/metadata"), R"({"$maxCount":10})", {Alice()}).status,
            200);
  auto del = Http("DELETE", Url("/streams/visit-1"), "", {Alice()});
  EXPECT_EQ(del.status, 403);
  EXPECT_EQ(del.json()["type"], "/problems/permission-denied");
  EXPECT_EQ(Http("GET", Url("/info"), "", {Alice()}).status, 200);
  // The admin's API key may delete.
  EXPECT_EQ(Http("DELETE", Url("/streams/visit-1"), "", {Ops()}).status, 200);
  EXPECT_EQ(Http("GET", Url("/metrics"), "", {Ops()}).status, 200);
}

TEST_F(AuthTest, StreamPrefixAclsLimitAReader) {
  ASSERT_EQ(Http("POST", Url("/streams/visit-2"), Body(), {Alice()}).status, 201);
  ASSERT_EQ(Http("POST", Url("/streams/billing-2"), Body(), {Alice()}).status, 201);
  EXPECT_EQ(Http("GET", Url("/streams/visit-2"), "", {Bob()}).status, 200);
  EXPECT_EQ(Http("GET", Url("/streams/visit-2/metadata"), "", {Bob()}).status, 200);
  EXPECT_EQ(Http("GET", Url("/streams/billing-2"), "", {Bob()}).status, 403);
  EXPECT_EQ(Http("POST", Url("/streams/visit-2"), Body(), {Bob()}).status, 403);
  EXPECT_EQ(Http("GET", Url("/all"), "", {Bob()}).status, 403);  // would show other streams
  EXPECT_EQ(Http("GET", Url("/streams"), "", {Bob()}).status, 403);
  SseClient denied(server_->address(), "/streams/billing-2", {Bob()});
  EXPECT_EQ(denied.status(), 403);
  SseClient allowed(server_->address(), "/streams/visit-2", {Bob()});
  EXPECT_EQ(allowed.status(), 200);
  auto metrics = Http("GET", Url("/metrics"), "", {Ops()});
  EXPECT_EQ(metrics.body.find("annals_auth_denied_total{reason=\"forbidden\"} 0"),
            std::string::npos);
  EXPECT_EQ(metrics.body.find("annals_auth_denied_total{reason=\"unauthenticated\"} 0"),
            std::string::npos);
  EXPECT_NE(server_->Stderr().find("denied"), std::string::npos);
}

TEST_F(AuthTest, UserListAndRemove) {
  std::string out;
  ASSERT_EQ(RunAnnals({"user", "list", "--users-file", *file_}, &out), 0) << out;
  EXPECT_NE(out.find("alice"), std::string::npos);
  EXPECT_NE(out.find("visit-"), std::string::npos);
  EXPECT_EQ(out.find("argon2"), std::string::npos);  // no secrets
  const std::string copy = (*dir_ / "copy.toml").string();
  std::filesystem::copy_file(*file_, copy);
  out.clear();
  ASSERT_EQ(RunAnnals({"user", "remove", "bob", "--users-file", copy}, &out), 0) << out;
  out.clear();
  ASSERT_EQ(RunAnnals({"user", "list", "--users-file", copy}, &out), 0);
  EXPECT_EQ(out.find("bob"), std::string::npos);
  out.clear();
  EXPECT_NE(RunAnnals({"user", "remove", "bob", "--users-file", copy}, &out), 0);
  // With users configured, listening beyond loopback needs no --insecure.
  ServerProcess open({"--users-file", copy, "--http", "0.0.0.0:0"});
  EXPECT_FALSE(open.address().empty());
}

}  // namespace
}  // namespace annals::http::testing
