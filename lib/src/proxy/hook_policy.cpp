#include "extension_runner/proxy/hook_policy.hpp"

#include <algorithm>
#include <cmath>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {
// A reply's billed time as whole microseconds for the counters; a negative or NaN one as 0.
uint64_t billed_us(double billed_ms) {
  return billed_ms > 0 ? static_cast<uint64_t>(std::llround(billed_ms * 1000.0)) : 0;
}

const char* phase_name(HookPhase phase) {
  return phase == HookPhase::Request ? "REQUEST" : "RESPONSE";
}
}  // namespace

int64_t HookPolicy::call_deadline(std::optional<int64_t> invocation_deadline_ms) const {
  const int64_t budget = wall_clock_ms() + options_.hook_timeout_ms;
  return invocation_deadline_ms ? std::min(budget, *invocation_deadline_ms) : budget;
}

// The call moves into the hook (its event may be a whole payload); the id stays for the log.
Decision HookPolicy::ask(HookPhase phase, HookCall call) {
  const std::string id = call.context.aws_request_id;
  if (ms_until(call.deadline_ms) <= 0) {
    return failed(phase, id, "no time left before the invocation's deadline");
  }
  bump(stats_.hook_calls);
  const auto reply = phase == HookPhase::Request ? hooks_.on_request(std::move(call))
                                                 : hooks_.on_response(std::move(call));
  if (!reply.ok()) {
    return failed(phase, id,
                  std::string(error_type(reply.error().kind)) + ": " + reply.error().message);
  }
  bump(stats_.hook_answers);
  stats_.hook_billed_us.fetch_add(billed_us(reply->billed_ms), std::memory_order_relaxed);
  Decision decision = decide(reply.value(), phase);
  switch (decision.kind) {
    case Decision::Kind::Invalid:
      return failed(phase, id, "malformed answer: " + decision.reason);
    case Decision::Kind::Replace:
      bump(stats_.replaced);
      break;
    case Decision::Kind::Respond:
      bump(stats_.answered);
      break;
    case Decision::Kind::Fail:
      bump(stats_.rejected);
      break;
    case Decision::Kind::Forward:
      break;
  }
  return decision;
}

Decision HookPolicy::failed(HookPhase phase, const std::string& request_id,
                            const std::string& why) {
  bump(stats_.hook_failures);
  const std::string what = std::string("proxy: the ") + phase_name(phase) + " hook for " +
                           request_id + " failed (" + why + "); ";
  if (options_.fail == FailPolicy::Open) {
    bump(stats_.failed_open);
    log_warn(what + "failing open: the original goes through unchanged");
    return Decision{};
  }
  bump(stats_.failed_closed);
  log_warn(what + "failing closed: the invocation fails with " + kHookFailedErrorType);
  Decision decision;
  decision.kind = Decision::Kind::Fail;
  decision.error_type = kHookFailedErrorType;
  decision.body =
      error_body_json(kHookFailedErrorType,
                      std::string("the extension's ") + phase_name(phase) + " hook failed: " + why);
  return decision;
}

}  // namespace extension_runner
