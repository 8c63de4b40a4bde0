# extension-runner: `make demo` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD_DIR)/bin/extension-runner

# Debian packages needed to build and test (the development build).
DEB_PACKAGES := build-essential cmake pkg-config libcurl4-openssl-dev rapidjson-dev \
  libcli11-dev catch2 libcpp-httplib-dev python3 nodejs

.PHONY: all deps build test demo bench fuzz clean format

all: build

## deps: install the Debian packages that are missing (runs apt-get update first).
deps:
	@scripts/install-debs.sh $(DEB_PACKAGES)

## build: configure and compile into $(BUILD_DIR)/bin/extension-runner.
build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

## test: deps + build + the layering check + every test (ctest) + the layer tests.
test: deps build
	scripts/check-layers.sh
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-layer

## demo: deps + build + a whole local lifecycle against the embedded emulator.
demo: deps build
	$(BIN) emulate --telemetry --runtime "python3 examples/python/runner.py"

## bench: every path a user pays for, in one run, against a floor (bench/README.md); writes
## bench/results/latest.json and prints one table. Never asserted by tests.
## (REPEATS=5 INVOKES=300; the static release binary comes from static-x86_64.)
bench: deps build static-x86_64
	bench/run.sh $(BIN) $(BUILD_DIR)/static-x86_64/bin/extension-runner

## fuzz: libFuzzer + ASan/UBSan on every parser of untrusted bytes, FUZZ_SECONDS each
## (docs/fuzzing.md). Not part of `make test`. FUZZ_TARGETS=fuzz_parse_event runs one.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= $(patsubst fuzz/%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_FLAGS ?= -max_len=65536 -timeout=5 -rss_limit_mb=1024
fuzz:
	@scripts/install-debs.sh clang-14 libclang-rt-14-dev $(DEB_PACKAGES)
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD_DIR) -DER_FUZZ=ON \
	  -DER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$${t#fuzz_}; log=$(FUZZ_BUILD_DIR)/$$t.log; mkdir -p $(FUZZ_BUILD_DIR)/corpus/$$name; \
	  echo "== $$t: $(FUZZ_SECONDS)s"; \
	  if ! $(FUZZ_BUILD_DIR)/fuzz/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	      -artifact_prefix=$(FUZZ_BUILD_DIR)/$$t- -print_final_stats=1 \
	      $(FUZZ_BUILD_DIR)/corpus/$$name fuzz/corpus/$$name >$$log 2>&1; then \
	    tail -n 40 $$log; echo "$$t FAILED: reproducer in $(FUZZ_BUILD_DIR)/$$t-*"; exit 1; \
	  fi; \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' $$log; \
	done

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)

include $(dir $(lastword $(MAKEFILE_LIST)))layer/layer.mk
