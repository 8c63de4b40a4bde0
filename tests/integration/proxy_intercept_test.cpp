// Intercept mode: the hooks' decisions carried out, hook failures, concurrent invocations.
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "proxy_fakes.hpp"

using namespace extension_runner;
using namespace proxy_fakes;

namespace {

Result<HookReply> reply(std::string result, std::string errortype = "", bool errors = false) {
  return HookReply{std::move(result), std::move(errortype), errors};
}

/** `answer` for invocation id-1; every other invocation goes through. */
RecordingHooks::Answer only_for_first(const Result<HookReply>& answer) {
  return [answer](const HookCall& call) {
    return call.context.aws_request_id == "id-1" ? answer : reply("null");
  };
}

}  // namespace

TEST_CASE("proxy: intercept carries out each decision of the REQUEST and RESPONSE hooks",
          "[proxy]") {
  struct Case {
    const char* what;
    bool request_phase;
    Result<HookReply> answer;
    bool runtime_errors;       // the runtime reports /error instead of /response
    std::string runtime_gets;  // the event body the runtime gets
    std::string runtime_type;  // its Content-Type
    // What the platform gets for id-1: path suffix, Error-Type header, body.
    std::string platform_path, platform_error_type, platform_body;
  };
  const std::vector<Case> cases = {
      {"REQUEST null forwards", true, reply("null"), false, R"({"n":1})", "application/json",
       "id-1/response", "", R"({"out":1})"},
      {"REQUEST payload replaces the event", true, reply(R"({"payload":{"n":99}})"), false,
       R"({"n":99})", "application/json", "id-1/response", "", R"({"out":1})"},
      {"REQUEST payloadBase64 replaces it with bytes", true, reply(R"({"payloadBase64":"aGk="})"),
       false, "hi", "application/json" /* the original's: the hook names none */, "id-1/response",
       "", R"({"out":1})"},
      {"REQUEST respond answers for the function", true, reply(R"({"respond":{"statusCode":403}})"),
       false, R"({"n":2})", "application/json", "id-1/response", "", R"({"statusCode":403})"},
      {"REQUEST errors fails the invocation", true,
       reply(R"({"errorMessage":"no tenant"})", "Validation.Missing", true), false, R"({"n":2})",
       "application/json", "id-1/error", "Validation.Missing",
       R"({"errorMessage":"no tenant","errorType":"Validation.Missing"})"},
      {"RESPONSE null forwards", false, reply("null"), false, R"({"n":1})", "application/json",
       "id-1/response", "", R"({"out":1})"},
      {"RESPONSE payload replaces the response", false, reply(R"({"payload":{"out":"***"}})"),
       false, R"({"n":1})", "application/json", "id-1/response", "", R"({"out":"***"})"},
      {"RESPONSE errors replaces it with an error", false,
       reply(R"("secret leaked")", "Policy.Blocked", true), false, R"({"n":1})", "application/json",
       "id-1/error", "Policy.Blocked",
       R"({"errorType":"Policy.Blocked","errorMessage":"secret leaked"})"},
      {"RESPONSE payload turns an error into a response", false, reply(R"({"payload":"fine"})"),
       true, R"({"n":1})", "application/json", "id-1/response", "", R"("fine")"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeRuntimeApi api;
    RecordingHooks hooks;
    (c.request_phase ? hooks.on_request_answer : hooks.on_response_answer) =
        only_for_first(c.answer);
    RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
    api.push_event(lambda_event("id-1", R"({"n":1})"));
    api.push_event(lambda_event("id-2", R"({"n":2})"));
    RawClient runtime(proxy.address);
    runtime.send(http_request("GET", kNext));
    const RawMessage event = runtime.read_message();
    CHECK(event.body == c.runtime_gets);
    CHECK(event.header("Content-Type") == c.runtime_type);
    CHECK(event.header("Content-Length") == std::to_string(c.runtime_gets.size()));
    CHECK(event.header("Lambda-Runtime-Invoked-Function-Arn") == kArn);
    const std::string id = event.header("Lambda-Runtime-Aws-Request-Id");
    if (id == "id-1") {
      runtime.send(c.runtime_errors
                       ? http_request("POST", error_path(id),
                                      {{"Lambda-Runtime-Function-Error-Type", "Runtime.Unhandled"},
                                       {"Content-Type", "application/json"}},
                                      R"({"errorMessage":"x"})")
                       : http_request("POST", response_path(id),
                                      {{"Content-Type", "application/json"}}, R"({"out":1})"));
      CHECK(runtime.read_message().start_line == "HTTP/1.1 202 Accepted");
    }
    const Recorded got = api.wait_requests(1).at(0);
    CHECK_THAT(got.path, Catch::EndsWith(c.platform_path));
    CHECK(got.header("Lambda-Runtime-Function-Error-Type") == c.platform_error_type);
    CHECK(got.body == c.platform_body);
    CHECK(hooks.responses().size() == (id == "id-1" ? 1u : 0u));
    if (id != "id-1") {
      CHECK(hooks.requests().size() == 2);  // id-1 settled by its hook, id-2 handed over
      api.wait_next_calls(2);               // the proxy fetched id-2 itself
    }
  }
}

TEST_CASE("proxy: a phase the hooks do not take is neither asked nor copied", "[proxy]") {
  struct Case {
    const char* what;
    ProxyMode mode;
    bool takes_request, takes_response;
  };
  const std::vector<Case> cases = {
      {"intercept, RESPONSE only", ProxyMode::Intercept, false, true},
      {"intercept, REQUEST only", ProxyMode::Intercept, true, false},
      {"intercept, neither", ProxyMode::Intercept, false, false},
      {"observe, RESPONSE only", ProxyMode::Observe, false, true},
      {"observe, REQUEST only", ProxyMode::Observe, true, false},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeRuntimeApi api;
    RecordingHooks hooks;
    hooks.takes_request = c.takes_request;
    hooks.takes_response = c.takes_response;
    // Were a hook asked, its answer would show: the event and the response are replaced.
    hooks.on_request_answer = [](const HookCall&) { return reply(R"({"payload":"hooked"})"); };
    hooks.on_response_answer = [](const HookCall&) { return reply(R"({"payload":"hooked"})"); };
    RunningProxy proxy(api.address(), c.mode, hooks);
    api.push_event(lambda_event("id-1", R"({"n":1})"));
    RawClient runtime(proxy.address);
    runtime.send(http_request("GET", kNext));
    const RawMessage event = runtime.read_message();
    const bool intercept = c.mode == ProxyMode::Intercept;
    CHECK(event.body == (intercept && c.takes_request ? R"("hooked")" : R"({"n":1})"));
    runtime.send(http_request("POST", response_path("id-1"), {{"Content-Type", "application/json"}},
                              R"({"out":1})"));
    CHECK(runtime.read_message().start_line == "HTTP/1.1 202 Accepted");
    CHECK(api.wait_requests(1).at(0).body ==
          (intercept && c.takes_response ? R"("hooked")" : R"({"out":1})"));
    proxy.server.stop(5000);  // the observe queue is drained: every copy made has arrived
    CHECK(hooks.requests().size() == (intercept && c.takes_request ? 1u : 0u));
    CHECK(hooks.responses().size() == (intercept && c.takes_response ? 1u : 0u));
    std::vector<std::string> copied;
    for (const auto& copy : hooks.wait_observed(0)) {
      copied.push_back(json_string(*parse_json(copy.event.text()), "eventType").value_or(""));
    }
    std::vector<std::string> expected;
    if (!intercept && c.takes_request) expected.emplace_back("REQUEST");
    if (!intercept && c.takes_response) expected.emplace_back("RESPONSE");
    CHECK(copied == expected);
    CHECK(proxy.server.counters().hook_calls == hooks.requests().size() + hooks.responses().size());
  }
}

TEST_CASE("proxy: a crashed, slow or garbage hook fails open or closed", "[proxy]") {
  struct Hook {
    const char* what;
    RecordingHooks::Answer answer;
    const char* why;  // in the WARN line
  };
  const std::vector<Hook> failing = {
      {"crashed",
       [](const HookCall&) -> Result<HookReply> {
         return make_error(ErrorKind::ChildCrashed, "the child exited with status 1");
       },
       "Extension.ChildCrashed"},
      // Honours its deadline the way the host's adapter does: no answer by then is a timeout.
      {"slow",
       [](const HookCall& call) -> Result<HookReply> {
         std::mutex m;
         std::condition_variable never;
         std::unique_lock<std::mutex> lock(m);
         never.wait_until(lock, steady_deadline(call.deadline_ms), [] { return false; });
         return make_error(ErrorKind::Cancelled, "no reply by the deadline (Runner.Timeout)");
       },
       "no reply by the deadline"},
      {"garbage", [](const HookCall&) { return reply("[1,2,3]"); }, "malformed answer"},
  };
  for (const auto& hook : failing) {
    for (bool request_phase : {true, false}) {
      for (FailPolicy policy : {FailPolicy::Open, FailPolicy::Closed}) {
        INFO(hook.what << (request_phase ? " REQUEST" : " RESPONSE") << " hook, fail "
                       << fail_policy_name(policy));
        LogCapture log;
        FakeRuntimeApi api;
        RecordingHooks hooks;
        (request_phase ? hooks.on_request_answer
                       : hooks.on_response_answer) = [&](const HookCall& call) {
          return call.context.aws_request_id == "id-1" ? hook.answer(call) : reply("null");
        };
        RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks, [&](ProxyOptions& o) {
          o.fail = policy;
          o.hook_timeout_ms = 50;
        });
        api.push_event(lambda_event("id-1", R"({"n":1})"));
        api.push_event(lambda_event("id-2", R"({"n":2})"));
        RawClient runtime(proxy.address);
        runtime.send(http_request("GET", kNext));
        const RawMessage event = runtime.read_message();
        const bool skipped = request_phase && policy == FailPolicy::Closed;
        CHECK(event.header("Lambda-Runtime-Aws-Request-Id") == (skipped ? "id-2" : "id-1"));
        if (!skipped) {
          runtime.send(http_request("POST", response_path("id-1"), {}, R"({"out":1})"));
          CHECK(runtime.read_message().start_line == "HTTP/1.1 202 Accepted");
        }
        const Recorded got = api.wait_requests(1).at(0);
        if (policy == FailPolicy::Open) {
          CHECK(got.path == response_path("id-1"));
          CHECK(got.body == R"({"out":1})");
        } else {
          CHECK(got.path == error_path("id-1"));
          CHECK(got.header("Lambda-Runtime-Function-Error-Type") == "Extension.ProxyHookFailed");
          CHECK_THAT(got.body, Catch::Contains(hook.why));
        }
        const std::string warn = log.wait_for("hook for id-1 failed");
        CHECK_THAT(warn, Catch::Contains("WARN"));
        CHECK_THAT(warn, Catch::Contains(hook.why));
        CHECK(log.count("hook for id-1 failed") == 1);
        const ProxyCounters n = proxy.server.counters();
        CHECK(n.hook_failures == 1);
        CHECK(n.failed_open == (policy == FailPolicy::Open ? 1u : 0u));
        CHECK(n.failed_closed == (policy == FailPolicy::Closed ? 1u : 0u));
      }
    }
  }
}

namespace {

/** Holds each hook call until `expected` calls are inside at once (or the call's deadline). */
class Rendezvous {
 public:
  explicit Rendezvous(size_t expected) : expected_(expected) {}
  Result<HookReply> arrive(const HookCall& call) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++inside_;
    most_ = std::max(most_, inside_);
    cv_.notify_all();
    // Serialised hooks would never all be inside: the first one would reach its deadline.
    cv_.wait_until(lock, steady_deadline(call.deadline_ms), [this] { return most_ >= expected_; });
    --inside_;
    return HookReply{};
  }
  size_t most() {
    std::lock_guard<std::mutex> lock(mutex_);
    return most_;
  }

 private:
  const size_t expected_;
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t inside_ = 0;
  size_t most_ = 0;
};

}  // namespace

TEST_CASE("proxy: 4 concurrent invocations run their hooks at the same time", "[proxy]") {
  constexpr size_t kWorkers = 4;  // AWS_LAMBDA_MAX_CONCURRENCY runtime workers
  FakeRuntimeApi api;
  RecordingHooks hooks;
  Rendezvous requests(kWorkers);
  Rendezvous responses(kWorkers);
  hooks.on_request_answer = [&](const HookCall& call) { return requests.arrive(call); };
  hooks.on_response_answer = [&](const HookCall& call) { return responses.arrive(call); };
  RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks,
                     [](ProxyOptions& o) { o.hook_timeout_ms = 20000; });
  for (size_t i = 0; i < kWorkers; ++i) api.push_event(lambda_event("c" + std::to_string(i), "{}"));
  std::vector<std::string> answered(kWorkers);
  std::vector<std::thread> workers;
  for (size_t i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      RawClient runtime(proxy.address);
      runtime.send(http_request("GET", kNext));
      const std::string id = runtime.read_message().header("Lambda-Runtime-Aws-Request-Id");
      runtime.send(http_request("POST", response_path(id), {}, R"({"from":")" + id + "\"}"));
      answered[i] = runtime.read_message().start_line;
    });
  }
  for (auto& w : workers) w.join();
  CHECK(requests.most() == kWorkers);
  CHECK(responses.most() == kWorkers);
  for (const auto& line : answered) CHECK(line == "HTTP/1.1 202 Accepted");
  const auto posted = api.wait_requests(kWorkers);
  for (const auto& p : posted) CHECK(p.body == R"({"from":")" + p.path.substr(31, 2) + "\"}");
  CHECK(proxy.server.counters().hook_failures == 0);
}
