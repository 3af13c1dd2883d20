// A minimal command-line reader for the example programs: `--name value`, `--name=value` and
// bare switches. Small on purpose: the examples should read like application code.
#pragma once

#include <cstdlib>
#include <map>
#include <string>

namespace hospital {

class Flags {
 public:
  Flags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        values_[arg.substr(0, eq)] = arg.substr(eq + 1);
      } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[arg] = argv[++i];
      } else {
        values_[arg] = "";
      }
    }
  }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The flag's value, else the environment variable `env` (when given), else `def`.
  std::string Get(const std::string& name, const std::string& def,
                  const char* env = nullptr) const {
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    if (env != nullptr && std::getenv(env) != nullptr) return std::getenv(env);
    return def;
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace hospital
