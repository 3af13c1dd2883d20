#include "cli/user_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "annals/limits.h"
#include "api/http/users.h"
#include "cli/cli_common.h"

namespace annals::cli {

namespace {

struct UserFlags {
  std::string users_file;
  std::string name;
  std::string role = "reader";
  std::vector<std::string> streams;
  std::string password;
};

[[noreturn]] void Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "annals user: %s\n", message.c_str());
  throw CommandFailed{code};
}

http::UsersFile LoadOrFail(const std::string& path) {
  auto file = http::UsersFile::Load(path);
  if (!file.ok()) Fail(file.status().message());
  return std::move(*file);
}

// Saves `file` to `path`, or Fail()s. UsersFile::Save writes `<path>.tmp` first and leaves
// it behind when it fails (a directory at `path`, a full disk): it holds password hashes, so
// it goes.
void SaveOrFail(const http::UsersFile& file, const std::string& path) {
  if (Status s = file.Save(path); !s.ok()) {
    std::error_code ignored;
    std::filesystem::remove(path + ".tmp", ignored);
    Fail(s.message());
  }
}

// What is wrong with a name for the users file, or empty. The file's reader refuses an empty
// name (and so every later command and `serve` would fail), and a control character or
// invalid UTF-8 would make `user list` and the server's logs unreadable.
std::string NameProblem(const std::string& name, bool is_key) {
  if (name.empty()) return "must not be empty";
  if (!IsValidUtf8(name)) return "is not valid UTF-8";
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool c1 = c == 0xc2 && i + 1 < name.size() &&
                    static_cast<unsigned char>(name[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(name[i + 1]) <= 0x9f;
    if (c < 0x20 || c == 0x7f || c1) {
      return "has a control character at byte " + std::to_string(i);
    }
  }
  // Basic authentication sends "name:password" and splits at the first colon.
  if (!is_key && name.find(':') != std::string::npos) return "must not contain ':'";
  return {};
}

http::Account NewAccount(const UserFlags& f, bool is_key) {
  if (std::string problem = NameProblem(f.name, is_key); !problem.empty()) {
    Fail("the name " + problem, 2);
  }
  http::Account a;
  a.name = f.name;
  auto role = http::ParseRole(f.role);
  if (!role) Fail("role must be admin, writer or reader", 2);
  a.role = *role;
  a.streams = f.streams;
  return a;
}

void AddCommon(CLI::App* cmd, UserFlags* f, bool with_name) {
  cmd->add_option("--users-file", f->users_file, "The users file (env ANNALS_USERS_FILE)")
      ->envname("ANNALS_USERS_FILE")
      ->required();
  if (with_name) cmd->add_option("name", f->name, "User or key name")->required();
  cmd->get_option("--users-file")->check(NonEmpty());
}

}  // namespace

void AddUserCommand(CLI::App& app) {
  auto f = std::make_shared<UserFlags>();
  CLI::App* user = app.add_subcommand("user", "Manage users and API keys of `annals serve`");
  user->require_subcommand(1);

  CLI::App* add = user->add_subcommand("add", "Add a user (or replace its password and role)");
  AddCommon(add, f.get(), true);
  add->add_option("--role", f->role, "admin, writer or reader")->capture_default_str();
  // An empty prefix would allow every stream while looking like a restriction.
  add->add_option("--stream", f->streams, "Allowed stream prefix (repeatable; none: all)")
      ->check(NonEmpty());
  add->add_option("--password", f->password,
                  "The password (default: read a line from standard input)")
      ->check(NonEmpty());
  add->callback([f] {
    // Checked before anything is read (the password from stdin) or written.
    http::Account a = NewAccount(*f, /*is_key=*/false);
    http::UsersFile file = LoadOrFail(f->users_file);
    std::string password = f->password;
    if (password.empty() && !std::getline(std::cin, password)) Fail("no password given", 2);
    if (password.empty()) Fail("the password must not be empty", 2);
    auto hash = http::HashPassword(password);
    if (!hash.ok()) Fail(hash.status().message());
    a.password_hash = *hash;
    std::erase_if(file.accounts,
                  [&](const http::Account& x) { return !x.is_key && x.name == a.name; });
    file.accounts.push_back(std::move(a));
    SaveOrFail(file, f->users_file);
    std::printf("user %s saved\n", f->name.c_str());
  });

  CLI::App* key = user->add_subcommand("add-key", "Create an API key; prints its token once");
  AddCommon(key, f.get(), true);
  key->add_option("--role", f->role, "admin, writer or reader")->capture_default_str();
  key->add_option("--stream", f->streams, "Allowed stream prefix (repeatable; none: all)")
      ->check(NonEmpty());
  key->callback([f] {
    http::Account a = NewAccount(*f, /*is_key=*/true);
    http::UsersFile file = LoadOrFail(f->users_file);
    const std::string token = http::NewApiKey(&a);
    file.accounts.push_back(std::move(a));
    SaveOrFail(file, f->users_file);
    std::printf("%s\n", token.c_str());
  });

  CLI::App* remove = user->add_subcommand("remove", "Remove a user and its API keys");
  AddCommon(remove, f.get(), true);
  remove->callback([f] {
    if (f->name.empty()) Fail("the name must not be empty", 2);
    http::UsersFile file = LoadOrFail(f->users_file);
    const size_t removed =
        std::erase_if(file.accounts, [&](const http::Account& x) { return x.name == f->name; });
    if (removed == 0) Fail("no user or key named " + f->name);
    SaveOrFail(file, f->users_file);
    std::printf("removed %zu entr%s\n", removed, removed == 1 ? "y" : "ies");
  });

  CLI::App* list = user->add_subcommand("list", "List users and API keys (no secrets)");
  AddCommon(list, f.get(), false);
  list->callback([f] {
    http::UsersFile file = LoadOrFail(f->users_file);
    for (const http::Account& a : file.accounts) {
      std::string streams;
      for (const auto& p : a.streams) streams += (streams.empty() ? "" : ",") + p;
      std::printf("%-4s %-20s %-7s %s%s\n", a.is_key ? "key" : "user", a.name.c_str(),
                  std::string(http::RoleName(a.role)).c_str(),
                  streams.empty() ? "*" : streams.c_str(),
                  a.is_key ? (" id=" + a.key_id).c_str() : "");
    }
  });
}

}  // namespace annals::cli
