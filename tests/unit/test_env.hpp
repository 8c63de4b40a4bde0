#pragma once
// An EnvLookup over a fixed map, so config tests never depend on the real environment.
#include <map>
#include <optional>
#include <string>

#include "extension_runner/host/settings.hpp"

namespace test_support {

inline extension_runner::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& key) -> std::optional<std::string> {
    auto it = vars.find(key);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace test_support
