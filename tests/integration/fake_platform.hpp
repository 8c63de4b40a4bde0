#pragma once
// The Extensions API emulator with the Telemetry/Logs API installed on its server, torn down in
// the order TelemetryEmulator::install asks for: the server stops (in-flight requests finish)
// before the telemetry side is destroyed. Destroying the two as plain members in declaration
// order destroyed the TelemetryEmulator first, while a subscription request could still be in
// its handler (a data race TSan found, and a use after free in waiting).
#include <string>

#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"

namespace test_support {

struct FakePlatform {
  explicit FakePlatform(extension_runner::Platform platform = extension_runner::Platform::Lambda)
      : api(extension_runner::FunctionInfo{}, platform),
        telemetry([this](const std::string& id) { return api.knows_identifier(id); }, platform) {
    telemetry.install(api.server());
  }
  ~FakePlatform() { api.stop(); }
  FakePlatform(const FakePlatform&) = delete;
  FakePlatform& operator=(const FakePlatform&) = delete;

  extension_runner::Emulator api;
  extension_runner::TelemetryEmulator telemetry;
};

}  // namespace test_support
