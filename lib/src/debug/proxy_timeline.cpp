#include "extension_runner/debug/proxy_timeline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace extension_runner {
namespace {

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string step(const char* name, const std::optional<SteadyTime>& at, SteadyTime invoked) {
  return std::string(name) + " " + (at ? "+" + fixed1(ms_between(invoked, *at)) : "-");
}

std::string outcome_of(const std::optional<RuntimeAnswer>& answer) {
  if (!answer) return "nothing reached the platform";
  if (answer->status != 202)
    return "the platform refused it (" + std::to_string(answer->status) + ")";
  if (answer->outcome == RuntimeOutcome::Response) return "response";
  return "error " + (answer->error_type.empty() ? std::string("(no type)") : answer->error_type);
}

}  // namespace

double ms_between(SteadyTime from, SteadyTime to) {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::microseconds>(to - from).count()) /
         1000.0;
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::optional<double> added_latency_ms(const InvocationTimeline& t, const DirectPath& direct) {
  if (!t.event_out || !t.runtime_got || !t.runtime_sent || !t.answer) return std::nullopt;
  const double through =
      ms_between(*t.event_out, *t.runtime_got) + ms_between(*t.runtime_sent, t.answer->at);
  return through - direct.to_runtime_ms - direct.to_platform_ms;
}

std::string describe_timeline(const InvocationTimeline& t, const DirectPath& direct) {
  std::optional<SteadyTime> platform;
  if (t.answer) platform = t.answer->at;
  std::string out = step("event", t.event_out, t.invoked) + " → " +
                    step("hook", t.request_hook, t.invoked) + " → " +
                    step("runtime", t.runtime_got, t.invoked) + " → " +
                    step("response", t.runtime_sent, t.invoked) + " → " +
                    step("hook", t.response_hook, t.invoked) + " → " +
                    step("platform", platform, t.invoked) + " ms: " + outcome_of(t.answer);
  if (const auto added = added_latency_ms(t, direct)) {
    out += ", proxy added " + fixed1(*added) + " ms";
  }
  return out;
}

void ProxyTally::add(const InvocationTimeline& t, const DirectPath& direct) {
  ++invocations_;
  if (!t.answer) {
    ++unanswered_;
  } else if (t.answer->status != 202) {
    ++refused_;
  } else if (t.answer->outcome == RuntimeOutcome::Response) {
    ++responses_;
  } else {
    ++errors_[t.answer->error_type];
  }
  if (const auto added = added_latency_ms(t, direct)) added_ms_.push_back(*added);
}

double ProxyTally::added_percentile(double p) const {
  if (added_ms_.empty()) return 0;
  auto sorted = added_ms_;
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  const auto r = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(r, 1)) - 1];
}

std::string ProxyTally::text() const {
  std::string out;
  if (added_ms_.empty()) {
    out =
        "proxy added latency not measured (the runtime's own times are known only for the "
        "built-in function)";
  } else {
    out = "proxy added p50 " + fixed1(added_percentile(0.5)) + " / max " +
          fixed1(added_percentile(1.0)) + " ms over " + std::to_string(added_ms_.size()) +
          " invocations";
  }
  size_t error_count = 0;
  std::string by_type;
  for (const auto& [type, n] : errors_) {
    error_count += n;
    by_type += (by_type.empty() ? "" : ", ") + (type.empty() ? std::string("(no type)") : type) +
               " " + std::to_string(n);
  }
  out += "; the platform got " + std::to_string(responses_) + " responses, " +
         std::to_string(error_count) + " errors";
  if (!by_type.empty()) out += " (" + by_type + ")";
  if (refused_ > 0) out += ", refused " + std::to_string(refused_);
  if (unanswered_ > 0) out += ", " + std::to_string(unanswered_) + " invocations unanswered";
  return out;
}

}  // namespace extension_runner
