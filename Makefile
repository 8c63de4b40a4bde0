# extension-runner: `make demo` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD_DIR)/bin/extension-runner

# Debian packages needed to build and test (the development build).
DEB_PACKAGES := build-essential cmake pkg-config libcurl4-openssl-dev rapidjson-dev \
  libcli11-dev catch2 libcpp-httplib-dev python3 nodejs

.PHONY: all deps build test demo bench fuzz clean format lint test-sanitize test-sanitize-asan \
  test-sanitize-tsan soak

all: build

## deps: install the Debian packages that are missing (runs apt-get update first).
deps:
	@scripts/install-debs.sh $(DEB_PACKAGES)

## build: configure and compile into $(BUILD_DIR)/bin/extension-runner.
CONFIGURE := cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
build:
	$(CONFIGURE) >/dev/null
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
## (REPEATS=5 INVOKES=300 ROUNDS=21; the static release binary comes from static-x86_64.)
bench: deps build static-x86_64
	bench/run.sh $(BIN) $(BUILD_DIR)/static-x86_64/bin/extension-runner

## fuzz: libFuzzer + ASan/UBSan on every parser of untrusted bytes, FUZZ_SECONDS each
## (docs/fuzzing.md). Not part of `make test`. FUZZ_TARGETS=fuzz_parse_event runs one.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= $(patsubst fuzz/%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))
FUZZ_FLAGS ?= -max_len=65536 -timeout=5 -rss_limit_mb=1024
FUZZ_CONFIGURE := CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD_DIR) -DER_FUZZ=ON \
  -DER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
fuzz:
	@scripts/install-debs.sh clang-14 libclang-rt-14-dev $(DEB_PACKAGES)
	$(FUZZ_CONFIGURE) >/dev/null
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

## test-sanitize: the whole suite (unit + integration tests, which then start the sanitized
## binary) twice: under ASan + UBSan + LeakSanitizer, then under TSan. Any report fails the run
## (scripts/run-sanitized.sh: halt on the first error, exit code 86, a report file fails the
## target even when it came from a subprocess). In .ci/run after `make test`. DEVELOPERS.md.
SAN_DEB_PACKAGES := libasan8 libubsan1 libtsan2
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
# $(1) = build directory, $(2) = -DER_SANITIZE=… and other cache settings (CMakeLists.txt).
# -O1: the usual sanitizer trade-off between compile time, run time and readable stacks.
define san_run
	@scripts/install-debs.sh $(DEB_PACKAGES) $(SAN_DEB_PACKAGES)
	cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
	  $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache) $(2) >/dev/null
	cmake --build $(1) -j $(JOBS)
	cd $(1) && ../scripts/run-sanitized.sh san-reports ctest --output-on-failure -j $(JOBS)
endef
# The test code itself is not instrumented for ASan (the host's bugs are found without it, and
# the build is faster); the integration tests start the instrumented binary.
ASAN_FLAGS := -DER_SANITIZE=address,undefined -DER_SANITIZE_TESTS=OFF
# TSan sees only instrumented code, so the tests are instrumented too (their own threads and
# synchronisation). Debian's compiled cpp-httplib is not: its worker threads' hand-offs looked
# like races (a report inside libcpp-httplib.so seen here). The TSan build compiles
# cpp-httplib's own single header instead, from the Debian source package the static build
# fetches anyway (static-deps-x86_64).
TSAN_FLAGS = -DER_SANITIZE=thread -DER_SANITIZE_TESTS=ON \
  -DER_HTTPLIB_HEADER=$(abspath $(STATIC_DEPS_DIR))/x86_64/include/httplib.h

test-sanitize-asan:
	$(call san_run,$(ASAN_BUILD_DIR),$(ASAN_FLAGS))
	@echo "test-sanitize: ASan + UBSan + LeakSanitizer, whole suite: no reports"

test-sanitize-tsan: static-deps-x86_64
	$(call san_run,$(TSAN_BUILD_DIR),$(TSAN_FLAGS))
	@echo "test-sanitize: TSan, whole suite: no reports"

test-sanitize: test-sanitize-asan test-sanitize-tsan

## soak: SOAK_INVOKES (>= 5000) invokes through the real binary and the emulator, telemetry on,
## with a child that crashes, hangs or answers garbage on 1 % of them each
## (tests/integration/soak_test.cpp), then the listener load: LOAD_POSTERS posters x
## LOAD_BATCHES batches x 1,000 records against a slow child (load_test.cpp). Prints the figures.
## `make test` runs 500 invokes and 8 x 20 batches.
SOAK_INVOKES ?= 5000
SOAK_SEED ?= 12
LOAD_POSTERS ?= 8
LOAD_BATCHES ?= 500
soak: deps build
	ER_SOAK_INVOKES=$(SOAK_INVOKES) ER_SOAK_SEED=$(SOAK_SEED) $(BUILD_DIR)/bin/integration_tests 'soak:*'
	ER_LOAD_POSTERS=$(LOAD_POSTERS) ER_LOAD_BATCHES=$(LOAD_BATCHES) $(BUILD_DIR)/bin/integration_tests 'load:*'

## format: apply .clang-format to every tracked .cpp/.hpp.
format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

## lint: the style rules, as CI runs them; any finding fails. clang-format --dry-run over every
## tracked .cpp/.hpp (`make format` fixes them), then clang-tidy (.clang-tidy, warnings are
## errors) over $(BUILD_DIR)/compile_commands.json (lib/, extension/, tests/) and over the fuzz
## targets, whose compile commands come from the clang configuration `make fuzz` uses. Needs only
## configured build dirs, no build. clang-tidy's "N warnings generated" lines (nearly all in
## system headers, never shown) are filtered out.
LINT_DEB_PACKAGES := clang-format clang-tidy clang-14
TIDY := run-clang-tidy -quiet -j $(JOBS)
TIDY_QUIET := sed -u '/^\(\x1b\[[0-9;]*m\)*[0-9]* warnings\? generated\.$$/d'
lint: deps
	@scripts/install-debs.sh $(LINT_DEB_PACKAGES)
	git ls-files -z '*.cpp' '*.hpp' | xargs -0 clang-format --dry-run -Werror
	$(CONFIGURE) >/dev/null
	$(FUZZ_CONFIGURE) >/dev/null
	set -o pipefail; $(TIDY) -p $(BUILD_DIR) '^$(CURDIR)/(lib|extension|tests)/' 2>&1 | $(TIDY_QUIET)
	set -o pipefail; $(TIDY) -p $(FUZZ_BUILD_DIR) '^$(CURDIR)/fuzz/' 2>&1 | $(TIDY_QUIET)
	@echo "lint: clang-format and clang-tidy: no findings"

clean:
	rm -rf $(BUILD_DIR)

include $(dir $(lastword $(MAKEFILE_LIST)))layer/layer.mk
