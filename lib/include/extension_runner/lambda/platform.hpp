#pragma once
/**
 * @file platform.hpp
 * Which Lambda platform the extension runs on: a fact the environment states, not a choice.
 */
#include <string>

namespace extension_runner {

/**
 * The standard Lambda platform, or Lambda Managed Instances (one never-frozen environment
 * serving several invocations at once; external extensions register for SHUTDOWN only,
 * telemetry needs schema 2025-01-29 [LMI][RIE]).
 */
enum class Platform { Lambda, ManagedInstances };

/** `AWS_LAMBDA_INITIALIZATION_TYPE` on Lambda Managed Instances [LMI][RIE]. */
inline constexpr const char* kManagedInstancesInitType = "lambda-managed-instances";

/** The platform an `AWS_LAMBDA_INITIALIZATION_TYPE` value names (anything else: Lambda). */
inline Platform platform_from_initialization_type(const std::string& value) {
  return value == kManagedInstancesInitType ? Platform::ManagedInstances : Platform::Lambda;
}

/** `"lambda"` or `"managed-instances"`: the StartupRequest `platform` and log wording. */
inline const char* platform_name(Platform platform) {
  return platform == Platform::ManagedInstances ? "managed-instances" : "lambda";
}

}  // namespace extension_runner
