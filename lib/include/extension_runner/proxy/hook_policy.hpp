#pragma once
/**
 * @file hook_policy.hpp
 * Asking a hook in intercept mode, with its budget and the failure policy: whatever the hook
 * does (answers, fails, times out, answers nonsense), the caller gets a Decision to carry out.
 */
#include <cstdint>
#include <optional>

#include "extension_runner/proxy/decision.hpp"
#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/proxy/options.hpp"
#include "extension_runner/proxy/stats.hpp"

namespace extension_runner {

class HookPolicy {
 public:
  HookPolicy(InvocationHooks& hooks, const ProxyOptions& options, ProxyStats& stats)
      : hooks_(hooks), options_(options), stats_(stats) {}

  /** A call's deadline: now + the hook timeout, but never past the invocation's own deadline. */
  int64_t call_deadline(std::optional<int64_t> invocation_deadline_ms) const;

  /**
   * Asks the REQUEST or RESPONSE hook about `call` and returns the decision to carry out. When
   * the hook fails (an Error, an Invalid answer, or no time left before `call.deadline_ms`),
   * one WARN names the request id and why, the counters count it, and the result is Forward
   * (FailPolicy::Open) or Fail with kHookFailedErrorType (FailPolicy::Closed).
   */
  Decision ask(HookPhase phase, HookCall call);

  /** InvocationHooks::takes(): whether `phase` has a hook (and a copy) at all. */
  bool takes(HookPhase phase) const { return hooks_.takes(phase); }

 private:
  Decision failed(HookPhase phase, const std::string& request_id, const std::string& why);

  InvocationHooks& hooks_;
  const ProxyOptions& options_;
  ProxyStats& stats_;
};

}  // namespace extension_runner
