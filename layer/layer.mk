# The release build and the Lambda layers (included from the root Makefile).
#
#   make static       build/static-{x86_64,arm64}/bin/extension-runner  (fully static, stripped)
#   make layer        build/layer/extension-runner-{x86_64,arm64}.zip    (extensions/extension-runner)
#   make test-layer   chroot/qemu runs of both zips, size budget, SAM build targets, cfn-lint
#   make build-ExtensionRunnerLayerX86 ARTIFACTS_DIR=...   (what `sam build` runs; also Arm64)
#   make extension-layer NAME=my-ext DIR=path/to/child ARCH=x86_64|arm64 [COMMAND=...]
#                     build/layer/my-ext-<arch>.zip: an extension packaged as one layer
#
# Static dependencies (libcurl from Debian's source package, header-only cpp-httplib) are built
# once per architecture under $(STATIC_DEPS_DIR) by layer/build-static-deps.sh and reused.

LAYER_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
LAYER_BUILD_DIR ?= $(or $(BUILD_DIR),build)
STATIC_DEPS_DIR ?= $(LAYER_BUILD_DIR)/static-deps
LAYER_DIR := $(LAYER_BUILD_DIR)/layer
LAYER_ARCHES := x86_64 arm64
LAYER_JOBS ?= 2
# Zipped size budget per architecture (issue: 1.5 MB).
LAYER_MAX_ZIP_BYTES ?= 1500000

# Debian packages for the release build, the cross build and the layer tests.
LAYER_DEB_PACKAGES := build-essential cmake dpkg-dev patch g++-aarch64-linux-gnu \
  qemu-user-static binfmt-support zip unzip binutils rapidjson-dev libcli11-dev busybox-static \
  python3

STATIC_CMAKE_ARGS = -DER_STATIC=ON -DER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
STATIC_CMAKE_ARGS_x86_64 :=
STATIC_CMAKE_ARGS_arm64 = -DCMAKE_TOOLCHAIN_FILE=$(LAYER_ROOT)/cmake/aarch64-linux-gnu.cmake

.PHONY: layer-deps static $(addprefix static-,$(LAYER_ARCHES)) \
  $(addprefix static-deps-,$(LAYER_ARCHES)) layer test-layer test-sam-targets \
  build-ExtensionRunnerLayerX86 build-ExtensionRunnerLayerArm64

## layer-deps: install the Debian packages the release build needs (apt-get update first).
layer-deps:
	@$(LAYER_ROOT)/scripts/install-debs.sh $(LAYER_DEB_PACKAGES)

# (Static pattern rules: make skips implicit-rule search for .PHONY targets.)
$(addprefix static-deps-,$(LAYER_ARCHES)): static-deps-%: layer-deps
	JOBS=$(LAYER_JOBS) $(LAYER_ROOT)/layer/build-static-deps.sh $* $(STATIC_DEPS_DIR)

# $(1) = arch, $(2) = build directory.
define static_build
	cmake -S $(LAYER_ROOT) -B $(2) $(STATIC_CMAKE_ARGS) $(STATIC_CMAKE_ARGS_$(1)) \
	  -DER_STATIC_PREFIX=$(abspath $(STATIC_DEPS_DIR))/$(1) >/dev/null
	cmake --build $(2) --target extension-runner -j $(LAYER_JOBS)
endef

$(addprefix static-,$(LAYER_ARCHES)): static-%: static-deps-%
	$(call static_build,$*,$(LAYER_BUILD_DIR)/static-$*)

## static: the fully static release binaries for x86_64 and arm64.
static: $(addprefix static-,$(LAYER_ARCHES))

## layer: build/layer/extension-runner-<arch>.zip holding only extensions/extension-runner (755).
layer: static
	@set -e; for arch in $(LAYER_ARCHES); do \
	  stage=$(LAYER_DIR)/stage-$$arch; zip=$(abspath $(LAYER_DIR))/extension-runner-$$arch.zip; \
	  rm -rf $$stage $$zip; \
	  install -D -m 755 $(LAYER_BUILD_DIR)/static-$$arch/bin/extension-runner $$stage/extensions/extension-runner; \
	  touch -d '2000-01-01 00:00:00' $$stage/extensions/extension-runner; \
	  (cd $$stage && zip -X -q -9 $$zip extensions/extension-runner); \
	  echo "$$zip"; \
	done

## test-layer: run both layers from zips in chroots (arm64 under qemu), check ELF/zip/sizes,
## then check the SAM build targets and the template.
## The integration tests that start the binary run once more against the static x86_64 binary.
LAYER_INTEGRATION_TESTS ?= $(LAYER_BUILD_DIR)/bin/integration_tests
# The integration tests that start the binary (Catch2 test spec: comma = or).
BINARY_TEST_SPEC := 'lifecycle:*,emulate*,invoke*,runner lifecycle:*,managed instances:*,package:*'
# The packaged layer the chroot tests run: the POSIX shell child (busybox sh in the chroot).
TEST_PACKAGE_NAME := shell-echo
TEST_PACKAGE_DIR := $(LAYER_ROOT)/tests/data/shell-child
test-layer: layer
	@test -x $(LAYER_INTEGRATION_TESTS) || { echo "$(LAYER_INTEGRATION_TESTS) missing: make build first" >&2; exit 1; }
	ER_BINARY=$(abspath $(LAYER_BUILD_DIR))/static-x86_64/bin/extension-runner \
	  $(LAYER_INTEGRATION_TESTS) $(BINARY_TEST_SPEC)
	@# Packaging that passes its check prints the zip's path and nothing else (no echoed
	@# command, no build output).
	@for arch in $(LAYER_ARCHES); do \
	  out="$$($(MAKE) --no-print-directory extension-layer NAME=$(TEST_PACKAGE_NAME) \
	    DIR=$(TEST_PACKAGE_DIR) ARCH=$$arch 2>&1)" || { echo "$$out"; exit 1; }; \
	  zip="$(abspath $(LAYER_DIR))/$(TEST_PACKAGE_NAME)-$$arch.zip"; \
	  if [ "$$out" = "$$zip" ]; then echo "  ok   make extension-layer ($$arch) printed only $$zip"; \
	  else echo "  FAIL make extension-layer ($$arch) printed more than the zip's path:"; \
	    echo "$$out"; exit 1; fi; \
	done
	ER_INTEGRATION_TESTS=$(LAYER_INTEGRATION_TESTS) ER_TEST_PACKAGE=$(TEST_PACKAGE_NAME) \
	  $(LAYER_ROOT)/layer/test-layer.sh $(LAYER_DIR) $(LAYER_MAX_ZIP_BYTES)
	$(MAKE) --no-print-directory test-sam-targets

test-sam-targets: layer-deps
	ER_DEPS_CACHE=$(abspath $(STATIC_DEPS_DIR)) $(LAYER_ROOT)/layer/test-sam-targets.sh

## extension-layer: an extension packaged as one layer (docs/deploy.md):
##   make extension-layer NAME=my-ext DIR=path/to/child ARCH=x86_64|arm64 \
##     [COMMAND='/var/lang/bin/python3 main.py'] [HANDLER=...] [SETTINGS='KEY=VALUE ...'] \
##     [EXCLUDE='test_*.py ...']
## writes build/layer/<NAME>-<ARCH>.zip: extensions/<NAME> (the static binary),
## <NAME>/extension-runner.json (DIR's own, or written from COMMAND, HANDLER and SETTINGS) and
## DIR's files under <NAME>/ (but .git, __pycache__ and EXCLUDE's patterns). Nothing goes to
## /opt/lib or /opt/bin. The packaged binary's `check` runs on the staged layer first: a setting
## Lambda would refuse, or a command naming a file not in DIR, writes no zip (exit 2).
## Prints the zip's path (and the check's warnings) and nothing else: the static build's output
## goes to build/layer/static-<ARCH>.log, shown when it fails.
ARCH ?= x86_64
# '…' around a make value for the shell; $(value …) keeps a `$PATH` in COMMAND as written.
sh_quote = '$(subst ','\'',$(1))'
extension-layer:
	@case "$(ARCH)" in x86_64 | arm64) ;; *) \
	  echo "extension-layer: ARCH must be x86_64 or arm64, not '$(ARCH)'" >&2; exit 2 ;; esac
	@test -n "$(NAME)" -a -n "$(DIR)" || { echo "usage: make extension-layer NAME=my-ext \
	DIR=path/to/child ARCH=x86_64|arm64 [COMMAND=...] [HANDLER=...] [SETTINGS='KEY=VALUE ...']" >&2; \
	  exit 2; }
	@mkdir -p $(LAYER_DIR); log=$(LAYER_DIR)/static-$(ARCH).log; \
	  test -x $(LAYER_BUILD_DIR)/static-$(ARCH)/bin/extension-runner || echo "extension-layer: \
	building the static $(ARCH) binary (the first time with its dependencies: minutes; log: $$log)"; \
	  $(MAKE) --no-print-directory static-$(ARCH) >$$log 2>&1 || { tail -n 40 $$log >&2; \
	    echo "extension-layer: the static $(ARCH) build failed (log: $$log)" >&2; exit 1; }
	@$(LAYER_ROOT)/layer/package-extension.sh --name $(call sh_quote,$(NAME)) \
	  --dir $(call sh_quote,$(DIR)) --binary $(LAYER_BUILD_DIR)/static-$(ARCH)/bin/extension-runner \
	  --zip $(call sh_quote,$(LAYER_DIR)/$(NAME)-$(ARCH).zip) \
	  $(if $(value COMMAND),--command $(call sh_quote,$(value COMMAND))) \
	  $(if $(value HANDLER),--handler $(call sh_quote,$(value HANDLER))) \
	  $(foreach kv,$(value SETTINGS),--set $(call sh_quote,$(kv))) \
	  $(foreach p,$(value EXCLUDE),--exclude $(call sh_quote,$(p)))

# SAM (`BuildMethod: makefile`) runs `make build-<LogicalId>` in a scratch copy of the tree with
# ARTIFACTS_DIR = the layer root (/opt). A fresh build directory avoids the copied build/ and its
# CMakeCache.txt; copied static deps with a matching stamp are reused.
# $(1) = arch, $(2) = the install command ($$tmp/bin/extension-runner is the binary).
define sam_layer
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (run by sam build)" >&2; exit 1; }
	JOBS=$(LAYER_JOBS) $(LAYER_ROOT)/layer/build-static-deps.sh $(1) $(STATIC_DEPS_DIR)
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cmake -S $(LAYER_ROOT) -B $$tmp $(STATIC_CMAKE_ARGS) $(STATIC_CMAKE_ARGS_$(1)) \
	    -DER_STATIC_PREFIX=$(abspath $(STATIC_DEPS_DIR))/$(1) >/dev/null; \
	  cmake --build $$tmp --target extension-runner -j $(LAYER_JOBS); \
	  $(2)
endef

SAM_INSTALL_RUNNER = install -D -m 755 $$tmp/bin/extension-runner "$(ARTIFACTS_DIR)/extensions/extension-runner"

build-ExtensionRunnerLayerX86: layer-deps
	$(call sam_layer,x86_64,$(SAM_INSTALL_RUNNER))

build-ExtensionRunnerLayerArm64: layer-deps
	$(call sam_layer,arm64,$(SAM_INSTALL_RUNNER))

# The example extension layer of template.yaml: examples/emf-metrics (the SDK's EMF example)
# packaged as `emf-metrics`, its command naming the Python runtimes' interpreter (extensions get
# no /var/lang/bin on PATH), telemetry on; its tests and README stay out of the layer.
build-EmfMetricsLayer: layer-deps
	$(call sam_layer,x86_64,$(LAYER_ROOT)/layer/package-extension.sh --name emf-metrics \
	  --dir $(LAYER_ROOT)/examples/emf-metrics --binary $$tmp/bin/extension-runner \
	  --stage "$(ARTIFACTS_DIR)" --command '/var/lang/bin/python3 emf_metrics.py' \
	  --set EXTENSION_RUNNER_TELEMETRY=telemetry --exclude 'test_*.py' --exclude README.md)
