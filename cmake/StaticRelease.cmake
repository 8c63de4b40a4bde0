# The fully static release build (ER_STATIC=ON): a Lambda layer binary with no dynamic section,
# so it runs on any Lambda runtime whatever its glibc (docs/deploy.md, "Why static").
#
# Every dependency comes from ER_STATIC_PREFIX, as built by layer/build-static-deps.sh:
#   lib/libcurl.a        Debian's curl source, plain HTTP only
#   include/curl/        its headers
#   include/httplib.h    cpp-httplib's single header (header-only; no OpenSSL/zlib/brotli macros)
#   include/rapidjson/   include/CLI/   copies of the Debian header-only packages
# It defines the same target names the development build gets from find_package/pkg-config
# (CURL::libcurl, PkgConfig::HTTPLIB, CLI11::CLI11, RAPIDJSON_INCLUDE_DIRS), so the rest of the
# build is identical.
set(ER_STATIC_PREFIX "" CACHE PATH "Prefix holding the static dependencies (layer/build-static-deps.sh)")
option(ER_LTO "Link-time optimisation for the static release build" ON)

if(NOT EXISTS "${ER_STATIC_PREFIX}/lib/libcurl.a" OR NOT EXISTS "${ER_STATIC_PREFIX}/include/httplib.h")
  message(FATAL_ERROR "ER_STATIC=ON needs ER_STATIC_PREFIX with lib/libcurl.a and include/httplib.h "
                      "(got '${ER_STATIC_PREFIX}'); run layer/build-static-deps.sh <arch> first")
endif()

add_library(CURL::libcurl STATIC IMPORTED)
set_target_properties(CURL::libcurl PROPERTIES
  IMPORTED_LOCATION "${ER_STATIC_PREFIX}/lib/libcurl.a"
  INTERFACE_INCLUDE_DIRECTORIES "${ER_STATIC_PREFIX}/include"
  INTERFACE_COMPILE_DEFINITIONS CURL_STATICLIB)

# Header-only: every translation unit that includes <httplib.h> gets the inline implementation.
add_library(PkgConfig::HTTPLIB INTERFACE IMPORTED)
set_target_properties(PkgConfig::HTTPLIB PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${ER_STATIC_PREFIX}/include")

add_library(CLI11::CLI11 INTERFACE IMPORTED)
set_target_properties(CLI11::CLI11 PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${ER_STATIC_PREFIX}/include")

set(RAPIDJSON_INCLUDE_DIRS "${ER_STATIC_PREFIX}/include")

# -Os (CMake's Release default is -O3): the binary is I/O-bound, and most of its resident memory
# is its own text mapped by page fault-around, so a smaller binary is a smaller RSS (make bench:
# 2.8 -> 2.45 MB binary, peak RSS 2.54 -> 2.28 MB; per-invoke times unchanged within noise).
set(CMAKE_CXX_FLAGS_RELEASE "-Os -DNDEBUG")
# Except the telemetry batch parser, the one loop every record of every POST goes through: at
# -Os the JSON reader's stream calls are not inlined, a third of the parse's instructions. -O2 for
# that file alone (README, Benchmarks: the 1,000-record POST).
set_source_files_properties(${CMAKE_SOURCE_DIR}/lib/src/telemetry/records.cpp
  PROPERTIES COMPILE_OPTIONS -O2)
set(CMAKE_C_FLAGS_RELEASE "-Os -DNDEBUG")
add_compile_options(-ffunction-sections -fdata-sections)
# The link warns that getaddrinfo needs glibc's NSS modules at run time: expected and harmless,
# libcurl never calls it for the numeric AWS_LAMBDA_RUNTIME_API (docs/deploy.md, "Name resolution").
add_link_options(-static -Wl,--gc-sections -s)
if(ER_LTO)
  set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
endif()
