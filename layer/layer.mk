# The release build and the Lambda layers (included from the root Makefile).
#
#   make static       build/static-{x86_64,arm64}/bin/extension-runner  (fully static, stripped)
#   make layer        build/layer/extension-runner-{x86_64,arm64}.zip    (extensions/extension-runner)
#   make test-layer   chroot/qemu runs of both zips, size budget, SAM build targets, cfn-lint
#   make build-ExtensionRunnerLayerX86 ARTIFACTS_DIR=...   (what `sam build` runs; also Arm64)
#   make extension-layer NAME=my-ext DIR=path/to/child ARCH=x86_64|arm64 [COMMAND=...]
#                     build/layer/my-ext-<arch>.zip: an extension packaged as one layer
#   make text-order   layer/text-order.ld: the code Lambda mode runs, linked first (valgrind, perf)
#   make sam-extension-layer NAME=... DIR=... ARCH=...   the same into $(ARTIFACTS_DIR), for a
#                     team's own template (sam build)
#
# Static dependencies (libcurl from Debian's source package, header-only cpp-httplib) are built
# once per architecture under $(STATIC_DEPS_DIR) by layer/build-static-deps.sh and reused.

LAYER_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
LAYER_BUILD_DIR ?= $(or $(BUILD_DIR),build)
STATIC_DEPS_DIR ?= $(LAYER_BUILD_DIR)/static-deps
LAYER_DIR := $(LAYER_BUILD_DIR)/layer
LAYER_ARCHES := x86_64 arm64
# make again, on the repository's Makefile whichever file included this one (layer/sam/Makefile
# runs in SAM's scratch copy of its folder, where no Makefile of the repository is).
LAYER_MAKE = $(MAKE) --no-print-directory -C $(LAYER_ROOT) BUILD_DIR=$(abspath $(LAYER_BUILD_DIR))
LAYER_JOBS ?= 2
# Zipped size budget per architecture: 1.5 MB.
LAYER_MAX_ZIP_BYTES ?= 1500000

# Debian packages for the release build, the cross build and the layer tests.
LAYER_DEB_PACKAGES := build-essential cmake dpkg-dev patch g++-aarch64-linux-gnu \
  qemu-user-static binfmt-support zip unzip binutils rapidjson-dev libcli11-dev busybox-static \
  python3

STATIC_CMAKE_ARGS = -DER_STATIC=ON -DER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
STATIC_CMAKE_ARGS_x86_64 :=
STATIC_CMAKE_ARGS_arm64 = -DCMAKE_TOOLCHAIN_FILE=$(LAYER_ROOT)/cmake/aarch64-linux-gnu.cmake

.PHONY: layer-deps static text-order $(addprefix static-,$(LAYER_ARCHES)) \
  $(addprefix static-deps-,$(LAYER_ARCHES)) layer test-layer test-sam-targets extension-layer \
  sam-extension-layer build-ExtensionRunnerLayerX86 build-ExtensionRunnerLayerArm64 \
  build-EmfMetricsLayer

## layer-deps: install the Debian packages the release build needs (apt-get update first).
layer-deps:
	@$(LAYER_ROOT)/scripts/install-debs.sh $(LAYER_DEB_PACKAGES)

# (Static pattern rules: make skips implicit-rule search for .PHONY targets.)
$(addprefix static-deps-,$(LAYER_ARCHES)): static-deps-%: layer-deps
	JOBS=$(LAYER_JOBS) $(LAYER_ROOT)/layer/build-static-deps.sh $* $(STATIC_DEPS_DIR)

# $(1) = arch, $(2) = build directory. One build of a directory at a time: `sam build
# --parallel` starts several layer targets that build the same binary.
define static_build
	mkdir -p $(2)
	flock $(2).lock sh -c 'cmake -S $(LAYER_ROOT) -B $(2) $(STATIC_CMAKE_ARGS) \
	  $(STATIC_CMAKE_ARGS_$(1)) -DER_STATIC_PREFIX=$(abspath $(STATIC_DEPS_DIR))/$(1) >/dev/null && \
	  cmake --build $(2) --target extension-runner -j $(LAYER_JOBS)'
endef

$(addprefix static-,$(LAYER_ARCHES)): static-%: static-deps-%
	$(call static_build,$*,$(LAYER_BUILD_DIR)/static-$*)

## static: the fully static release binaries for x86_64 and arm64.
static: $(addprefix static-,$(LAYER_ARCHES))

## layer: build/layer/extension-runner-<arch>.zip holding only extensions/extension-runner (755)
## and the exec wrapper extension-runner/wrapper (755; docs/proxy.md).
layer: static
	@set -e; for arch in $(LAYER_ARCHES); do \
	  stage=$(LAYER_DIR)/stage-$$arch; zip=$(abspath $(LAYER_DIR))/extension-runner-$$arch.zip; \
	  rm -rf $$stage $$zip; \
	  install -D -m 755 $(LAYER_BUILD_DIR)/static-$$arch/bin/extension-runner $$stage/extensions/extension-runner; \
	  touch -d '2000-01-01 00:00:00' $$stage/extensions/extension-runner; \
	  $(LAYER_ROOT)/layer/write-wrapper.sh extension-runner $$stage; \
	  (cd $$stage && zip -X -q -9 $$zip extensions/extension-runner extension-runner/wrapper); \
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

## text-order: rewrite layer/text-order.ld, the code Lambda mode runs, which the static build
## links first (cmake/StaticRelease.cmake). Run it after changing what Lambda mode runs; commit
## the file. Needs valgrind and perf (x86_64 only; the arm64 link uses the same list).
text-order: static-deps-x86_64
	$(LAYER_ROOT)/layer/text-order.sh $(abspath $(STATIC_DEPS_DIR))/x86_64 \
	  $(abspath $(LAYER_BUILD_DIR))/static-x86_64-profile

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
# $(1) = the target's name: refuses a bad ARCH or a missing NAME/DIR, then builds the static
# binary quietly (its output, the static-glibc linker warning included, goes to a log shown
# when the build fails).
define extension_layer_prepare
	@case "$(ARCH)" in x86_64 | arm64) ;; *) \
	  echo "$(1): ARCH must be x86_64 or arm64, not '$(ARCH)'" >&2; exit 2 ;; esac
	@test -n "$(NAME)" -a -n "$(DIR)" || { echo "usage: make $(1) NAME=my-ext \
	DIR=path/to/child ARCH=x86_64|arm64 [COMMAND=...] [HANDLER=...] [SETTINGS='KEY=VALUE ...']" >&2; \
	  exit 2; }
	@mkdir -p $(LAYER_DIR); log=$(abspath $(LAYER_DIR))/static-$(ARCH).log; \
	  test -x $(LAYER_BUILD_DIR)/static-$(ARCH)/bin/extension-runner || echo "$(1): \
	building the static $(ARCH) binary (the first time with its dependencies: minutes; log: $$log)"; \
	  $(LAYER_MAKE) static-$(ARCH) >$$log 2>&1 || { tail -n 40 $$log >&2; \
	    echo "$(1): the static $(ARCH) build failed (log: $$log)" >&2; exit 1; }
endef
# package-extension.sh with NAME, DIR, COMMAND, HANDLER, SETTINGS and EXCLUDE; the output
# (--zip or --stage) is appended.
package_extension = $(LAYER_ROOT)/layer/package-extension.sh --name $(call sh_quote,$(NAME)) \
  --dir $(call sh_quote,$(DIR)) --binary $(LAYER_BUILD_DIR)/static-$(ARCH)/bin/extension-runner \
  $(if $(value COMMAND),--command $(call sh_quote,$(value COMMAND))) \
  $(if $(value HANDLER),--handler $(call sh_quote,$(value HANDLER))) \
  $(foreach kv,$(value SETTINGS),--set $(call sh_quote,$(kv))) \
  $(foreach p,$(value EXCLUDE),--exclude $(call sh_quote,$(p)))

extension-layer:
	$(call extension_layer_prepare,extension-layer)
	@$(package_extension) --zip $(call sh_quote,$(LAYER_DIR)/$(NAME)-$(ARCH).zip)

## sam-extension-layer: `make extension-layer` for `sam build` (BuildMethod: makefile): the same
## packaging and check, written into $(ARTIFACTS_DIR), the layer root SAM sets, instead of a zip.
## DIR's Makefile (the one SAM runs) stays out of the layer. A team's own template builds its
## extension layer from its own folder with it (docs/deploy.md, "Your own layer with SAM"):
##   build-MyExtLayer:
##   	$(MAKE) -C path/to/extension-runner sam-extension-layer NAME=my-ext DIR=$(CURDIR) ARCH=x86_64
sam-extension-layer:
	@test -n "$(ARTIFACTS_DIR)" || { echo "sam-extension-layer: ARTIFACTS_DIR is not set (sam \
	build sets it; see docs/deploy.md)" >&2; exit 2; }
	$(call extension_layer_prepare,sam-extension-layer)
	@$(package_extension) --exclude Makefile --stage "$(ARTIFACTS_DIR)"

# template.yaml's layers: SAM (`BuildMethod: makefile`, ContentUri: layer/sam/) runs
# `make --makefile layer/sam/Makefile build-<LogicalId>` in a scratch copy of that folder alone,
# with ARTIFACTS_DIR = the layer root (/opt) [BUILDERS]. layer/sam/Makefile includes this file
# with BUILD_DIR = the repository's build/, so the binaries are the repository's own incremental
# static builds (static-<arch>), never a copied tree's with its stale CMakeCache.txt.
# $(1) = arch.
define sam_runner_layer
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (run by sam build)" >&2; exit 1; }
	$(LAYER_MAKE) static-$(1)
	install -D -m 755 $(LAYER_BUILD_DIR)/static-$(1)/bin/extension-runner \
	  "$(ARTIFACTS_DIR)/extensions/extension-runner"
	$(LAYER_ROOT)/layer/write-wrapper.sh extension-runner "$(ARTIFACTS_DIR)"
endef

build-ExtensionRunnerLayerX86:
	$(call sam_runner_layer,x86_64)

build-ExtensionRunnerLayerArm64:
	$(call sam_runner_layer,arm64)

# The example extension layer of template.yaml, through the generic target a team's own
# template uses: examples/emf-metrics (the SDK's EMF example) packaged as `emf-metrics`, its
# command naming the Python runtimes' interpreter (extensions get no /var/lang/bin on PATH),
# telemetry on; its tests and README stay out of the layer.
build-EmfMetricsLayer:
	@$(LAYER_MAKE) sam-extension-layer NAME=emf-metrics \
	  DIR=$(LAYER_ROOT)/examples/emf-metrics ARCH=x86_64 \
	  COMMAND='/var/lang/bin/python3 emf_metrics.py' SETTINGS=EXTENSION_RUNNER_TELEMETRY=telemetry \
	  EXCLUDE='test_*.py README.md'

