# The two commands: `make run` and `make test`. Everything installs what it needs first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
DATA_DIR ?= ./data
CTEST_ARGS ?=
# Cache compilations across checkouts (CI builds a fresh clone): paths below the tree are
# hashed relative to it, and the build directory is not part of the hash.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps build asan run test test-quick test-slow bench bench-quick format clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# ASan + UBSan, built with clang so the libFuzzer targets come with it. -g1 (line tables) is
# enough for sanitizer reports. -O0: clang's optimiser is most of this tree's build time
# (server.cc: 66 s at -O0 against 221 s at -O1), and CI builds it cold.
$(ASAN_BUILD)/build.ninja: CMakeLists.txt | deps
	CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" -DANNALS_SANITIZE=ON -DANNALS_FUZZ=ON

asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/annals serve --data-dir $(DATA_DIR)

# Every suite: the optimised build (all labels, slow ones included), then the sanitizer build
# (all but the slow crash loops, which are about durability rather than memory errors).
# The sanitizer tree compiles while the optimised tree's suites run: those are mostly waiting
# on fsync, SIGKILLed children and servers, so the two overlap well within the CI's budget.
test: build
	@$(MAKE) --no-print-directory asan > $(ASAN_BUILD).log 2>&1 & asan=$$!; \
	  (cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)); optimised=$$?; \
	  wait $$asan; built=$$?; \
	  if [ $$built -ne 0 ]; then cat $(ASAN_BUILD).log; else tail -n 3 $(ASAN_BUILD).log; fi; \
	  [ $$optimised -eq 0 ] && [ $$built -eq 0 ]
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

test-quick: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L quick $(CTEST_ARGS)

test-slow: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L slow $(CTEST_ARGS)

# Annals against the peers of ../shared/bench/peers in one run; rewrites docs/benchmarks.md's
# generated section. bench-quick: one short repetition of the main cases (under 5 minutes).
bench: build
	scripts/bench

bench-quick: build
	scripts/bench --quick

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
