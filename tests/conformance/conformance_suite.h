// The EventStore conformance suite: one TEST_P per rule of docs/event-store-semantics.md, run
// against every backend.
//
// Adding a backend takes one file and one CMake line. The file, e.g.
// tests/conformance/engine_conformance_test.cc:
//
//   #include "annals/engine.h"
//   #include "conformance/conformance_suite.h"
//
//   ANNALS_CONFORMANCE_BACKEND(Engine, /*reopenable=*/true,
//       [](const std::string& dir) -> std::unique_ptr<annals::EventStore> {
//         auto engine = annals::OpenEngine(
//             {.data_dir = dir, .durability = annals::Durability::kUnsafeNoSync});
//         if (!engine.ok()) return nullptr;  // the suite fails the test on nullptr
//         return std::move(engine).value();
//       });
//
// and in tests/conformance/CMakeLists.txt:
//
//   annals_cc_test(NAME engine_conformance_test SRCS engine_conformance_test.cc
//                  DEPS annals_conformance_suite annals::engine)
//
// (or, without the macro, inside `namespace annals::conformance` — gtest wants the fixture's
//  unqualified name: INSTANTIATE_TEST_SUITE_P(Engine, ConformanceTest,
//  ::testing::Values(BackendFactory{...}), BackendName);).
//
// `annals_conformance_suite` is an OBJECT library so that the TEST_P registrations in
// conformance_suite.cc are always linked in. Tests are named `<Backend>/ConformanceTest.<Rule>/
// <Backend>`; run one backend's suite with --gtest_filter='Engine/*'.
//
// What the suite assumes of a backend: `open(dir)` opens a store on an existing empty
// directory (or, for reopenable backends, re-opens the store last opened there after the
// previous object was destroyed), with the default Limits. Nothing else: position values are
// never assumed, only their order and `next`.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "annals/event_store.h"

namespace annals::conformance {

// What a backend cannot do by design; the rules that need it are skipped (and say why).
struct BackendCapabilities {
  // AppendRequest::system_writer: Annals' own components writing `$` streams in-process.
  // A remote store has no such client (the API never lets a client write a `$` stream).
  bool system_writer = true;
  // ReadAllRequest::max_scan honoured per call (a remote store uses the server's).
  bool max_scan = true;
  // ReadStreamRequest / ReadAllRequest::max_bytes honoured per call (a remote store's pages are
  // bounded by its server).
  bool max_bytes = true;
};

struct BackendFactory {
  // Test-name suffix: letters, digits and '_' only.
  std::string name;
  // Opens (or re-opens) a store on `dir`, which the suite creates empty and removes afterwards.
  // nullptr means the open failed.
  std::function<std::unique_ptr<EventStore>(const std::string& dir)> open;
  // Whether closing the store and opening `dir` again finds everything committed before.
  // The reopen tests are skipped otherwise.
  bool reopenable = false;
  BackendCapabilities capabilities;
};

void PrintTo(const BackendFactory& factory, std::ostream* os);
std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info);

// The fixture of every conformance test: a fresh store on a fresh directory per test.
class ConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  EventStore& store() { return *store_; }
  const std::string& dir() const { return dir_; }
  // Destroys the store and opens the directory again. Only for reopenable backends.
  void Reopen();

 private:
  std::string dir_;
  std::unique_ptr<EventStore> store_;
};

}  // namespace annals::conformance

// Instantiates the whole suite for one backend. The variadic tail is the `open` callable,
// std::unique_ptr<annals::EventStore>(const std::string& dir); it may contain commas.
#define ANNALS_CONFORMANCE_BACKEND(backend_name, reopenable, ...)            \
  namespace annals::conformance {                                            \
  INSTANTIATE_TEST_SUITE_P(backend_name, ConformanceTest,                    \
                           ::testing::Values(BackendFactory{                 \
                               #backend_name, __VA_ARGS__, reopenable, {}}), \
                           BackendName);                                     \
  }                                                                          \
  static_assert(true, "ANNALS_CONFORMANCE_BACKEND needs a semicolon")
