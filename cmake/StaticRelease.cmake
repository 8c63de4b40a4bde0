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

# -Os (CMake's Release default is -O3): most of the code runs once or never, and per invoke the
# -Os build ran as many instructions as the -O2 development build (callgrind: ~100 k with no
# child, ~128 k with the null child, most of it libcurl, which is built -O2).
set(CMAKE_CXX_FLAGS_RELEASE "-Os -DNDEBUG")
# Except the files every event and every telemetry record go through: at -Os RapidJSON's reader
# and writer stream calls are not inlined. -O2 for them alone (bench/README.md, "Where the time
# and pages go"): the telemetry batch parser (the 1,000-record POST), the event parser and
# re-writer (99 -> 93 k instructions per invoke), the runner protocol (128 -> 118 k with the
# null child); +25 KiB of text, against +125 KiB for -O2 on every part Lambda mode runs.
set_source_files_properties(
  ${CMAKE_SOURCE_DIR}/lib/src/telemetry/records.cpp
  ${CMAKE_SOURCE_DIR}/lib/src/core/json.cpp
  ${CMAKE_SOURCE_DIR}/lib/src/lambda/events.cpp
  ${CMAKE_SOURCE_DIR}/lib/src/runner/protocol.cpp
  PROPERTIES COMPILE_OPTIONS -O2)
set(CMAKE_C_FLAGS_RELEASE "-Os -DNDEBUG")
# One section per function and object, at compile time and again at the link: with LTO the
# code is generated at the link, and without them there each LTO partition is one .text, which
# neither --gc-sections nor layer/text-order.ld can take apart.
add_compile_options(-ffunction-sections -fdata-sections)
add_link_options(-ffunction-sections -fdata-sections)
# The link warns that getaddrinfo needs glibc's NSS modules at run time: expected and harmless,
# libcurl never calls it for the numeric AWS_LAMBDA_RUNTIME_API (docs/deploy.md, "Name resolution").
add_link_options(-static -Wl,--gc-sections)
if(ER_LTO)
  set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
endif()

option(ER_STRIP "Strip the static binary (OFF keeps its symbols: perf, make text-order)" ON)
option(ER_TEXT_ORDER "Link the code Lambda mode runs first (layer/text-order.ld)" ON)
set(ER_TEXT_ORDER_SCRIPT "${CMAKE_SOURCE_DIR}/layer/text-order.ld")

# The link options of a static executable: stripped, a link map beside it (<target>.map: which
# object each function came from and where it went; bench/README.md reads it), and the code
# Lambda mode runs first. Lambda mode runs ~0.4 MB of ~1.9 MB of code; spread over the text it
# touched every 64 KiB fault-around window, so all of the text was resident (2.36 MB peak RSS
# with no child). Listed first, in an output section of its own (.text.lambda), it fills a few
# windows and the rest (debug mode, fake platform, CLI11, unused libc/libstdc++) is never
# mapped: 1.05 MB. layer/text-order.py writes the list from a profile of Lambda mode (`make
# text-order`); a stale list costs pages, never correctness.
function(er_static_executable target)
  target_link_options(${target} PRIVATE $<$<BOOL:${ER_STRIP}>:-s>
    -Wl,-Map=${CMAKE_BINARY_DIR}/${target}.map)
  if(ER_TEXT_ORDER)
    target_link_options(${target} PRIVATE -Wl,-T,${ER_TEXT_ORDER_SCRIPT})
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${ER_TEXT_ORDER_SCRIPT})
  endif()
endfunction()
