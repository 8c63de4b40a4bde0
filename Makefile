# extension-runner: `make demo` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD_DIR)/bin/extension-runner

# Debian packages needed to build and test (the development build).
DEB_PACKAGES := build-essential cmake pkg-config libcurl4-openssl-dev rapidjson-dev \
  libcli11-dev catch2 libcpp-httplib-dev python3

.PHONY: all deps build test demo bench clean format

all: build

## deps: install the Debian packages that are missing (runs apt-get update first).
deps:
	@scripts/install-debs.sh $(DEB_PACKAGES)

## build: configure and compile into $(BUILD_DIR)/bin/extension-runner.
build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

## test: deps + build + every test (ctest).
test: deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-layer

## demo: deps + build + a whole local lifecycle against the embedded emulator.
demo: deps build
	$(BIN) emulate --telemetry --runtime "python3 examples/python/runner.py"

## bench: benchmarks (hyperfine); figures are quoted in the README, never asserted in tests.
bench: deps build
	@scripts/install-debs.sh hyperfine
	bench/run.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)

include $(dir $(lastword $(MAKEFILE_LIST)))layer/layer.mk
