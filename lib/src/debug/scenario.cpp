#include "extension_runner/debug/scenario.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

Error invalid(const std::string& field, const std::string& why) {
  return make_error(ErrorKind::InvalidInput, "scenario: " + field + ": " + why);
}

Result<int64_t> get_int(const rapidjson::Value& v, const char* key, int64_t lo, int64_t hi,
                        int64_t fallback) {
  const auto* m = json_member(v, key);
  if (m == nullptr) return fallback;
  const auto n = json_int64(v, key);
  if (!n) return invalid(key, "expected an integer");
  if (*n < lo || *n > hi) {
    return invalid(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return *n;
}

Result<void> check_keys(const rapidjson::Value& v, const std::string& where,
                        const std::set<std::string>& allowed) {
  for (const auto& m : v.GetObject()) {
    const std::string key(m.name.GetString(), m.name.GetStringLength());
    if (allowed.count(key) == 0) return invalid(where + key, "unknown field");
  }
  return {};
}

Result<ScenarioFault> parse_fault(const rapidjson::Value& v, const std::string& name,
                                  const char* default_type) {
  if (!v.IsObject()) return invalid("faults." + name, "expected an object");
  if (auto keys =
          check_keys(v, "faults." + name + ".", {"status", "errorType", "errorMessage", "after"});
      !keys) {
    return keys.error();
  }
  ScenarioFault f;
  auto status = get_int(v, "status", 400, 599, 500);
  if (!status) return invalid("faults." + name + ".status", status.error().message);
  f.status = static_cast<int>(*status);
  auto after = get_int(v, "after", 0, 1000000, 0);
  if (!after) return invalid("faults." + name + ".after", after.error().message);
  f.after = static_cast<int>(*after);
  f.error_type = json_string(v, "errorType").value_or(default_type);
  f.error_message = json_string(v, "errorMessage").value_or(f.error_message);
  return f;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc) return invalid("document", doc.error().message);
  const rapidjson::Value& v = *doc;
  if (!v.IsObject()) return invalid("document", "expected a JSON object");
  if (auto keys = check_keys(v, "",
                             {"invokes", "spacingMs", "functionTimeoutMs", "durationMs",
                              "shutdownReason", "shutdownBudgetMs", "logs", "messages", "payloads",
                              "faults", "managedInstances", "concurrency"});
      !keys) {
    return keys.error();
  }
  Scenario s;
  auto invokes = get_int(v, "invokes", 0, 100000, s.invokes);
  if (!invokes) return invokes.error();
  s.invokes = static_cast<int>(*invokes);
  auto spacing = get_int(v, "spacingMs", 0, 600000, s.spacing_ms);
  if (!spacing) return spacing.error();
  s.spacing_ms = *spacing;
  auto timeout = get_int(v, "functionTimeoutMs", 1, 900000, s.function_timeout_ms);
  if (!timeout) return timeout.error();
  s.function_timeout_ms = *timeout;
  auto duration = get_int(v, "durationMs", 0, 900000, s.duration_ms);
  if (!duration) return duration.error();
  s.duration_ms = *duration;
  auto budget = get_int(v, "shutdownBudgetMs", 1, 60000, s.shutdown_budget_ms);
  if (!budget) return budget.error();
  s.shutdown_budget_ms = *budget;
  if (const auto* r = json_member(v, "shutdownReason")) {
    if (!r->IsString()) return invalid("shutdownReason", "expected a string");
    s.shutdown_reason = r->GetString();
  }
  if (const auto* m = json_member(v, "managedInstances")) {
    if (!m->IsBool()) return invalid("managedInstances", "expected true or false");
    s.managed_instances = m->GetBool();
  }
  auto concurrency = get_int(v, "concurrency", 1, 64, s.concurrency);
  if (!concurrency) return concurrency.error();
  s.concurrency = static_cast<int>(*concurrency);
  if (const auto* logs = json_member(v, "logs")) {
    if (!logs->IsArray()) return invalid("logs", "expected an array of strings or objects");
    s.log_records_json.clear();
    for (const auto& record : logs->GetArray()) {
      if (!record.IsString() && !record.IsObject()) {
        return invalid("logs", "each record must be a string or an object");
      }
      s.log_records_json.push_back(to_json(record));
    }
  }
  if (const auto* messages = json_member(v, "messages")) {
    if (!messages->IsArray()) return invalid("messages", "expected an array of JSON values");
    for (const auto& message : messages->GetArray()) s.messages_json.push_back(to_json(message));
  }
  if (const auto* payloads = json_member(v, "payloads")) {
    if (!payloads->IsArray()) return invalid("payloads", "expected an array of JSON values");
    for (const auto& payload : payloads->GetArray()) s.payloads_json.push_back(to_json(payload));
  }
  if (const auto* faults = json_member(v, "faults")) {
    if (!faults->IsObject()) return invalid("faults", "expected an object");
    if (auto keys = check_keys(*faults, "faults.", {"register", "next", "telemetry"}); !keys) {
      return keys.error();
    }
    if (const auto* f = json_member(*faults, "register")) {
      auto fault = parse_fault(*f, "register", "Extension.InvalidExtensionName");
      if (!fault) return fault.error();
      s.register_fault = *fault;
    }
    if (const auto* f = json_member(*faults, "next")) {
      auto fault = parse_fault(*f, "next", "Runtime.Unknown");
      if (!fault) return fault.error();
      s.next_fault = *fault;
    }
    if (const auto* t = json_member(*faults, "telemetry")) {
      const std::string kind = t->IsString() ? t->GetString() : "";
      if (kind == "NotSupported") {
        s.telemetry_fault = TelemetryFault::NotSupported;
      } else if (kind == "ValidationError") {
        s.telemetry_fault = TelemetryFault::ValidationError;
      } else if (kind == "Silent") {
        s.telemetry_fault = TelemetryFault::Silent;
      } else {
        return invalid("faults.telemetry",
                       "expected \"NotSupported\", \"ValidationError\" or \"Silent\"");
      }
    }
  }
  return s;
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorKind::InvalidInput, "scenario: cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str());
}

}  // namespace extension_runner
