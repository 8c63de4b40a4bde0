// docs/faults.md, Extensions API and subscription rows: the real binary against the emulator
// with injected faults, one table per call. Each row names a fault and the outcome the host must
// produce: exit code, which error report reached the API (and with which type), a stable word
// in its log.
#include <catch2/catch.hpp>
#include <optional>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "fake_platform.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;

namespace {

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

/** What a row expects. */
struct Outcome {
  int exit_code = 0;
  /** Error type of the init/error or exit/error the API *accepted* ("" = none accepted). */
  std::string accepted_report;
  /** A word the host's log must contain ("" = no check). */
  std::string log_word;
};

struct Row {
  std::string fault;
  std::optional<TransportFault> transport;
  std::optional<Fault> status;
  Outcome expect;
};

TransportFault transport(Transport kind, int times = 3) {
  TransportFault f;
  f.kind = kind;
  f.times = times;
  return f;
}
TransportFault body(const std::string& text, int status = 200) {
  TransportFault f = transport(Transport::Body);
  f.body = text;
  f.status = status;
  return f;
}
TransportFault slow(int delay_ms) {
  TransportFault f = transport(Transport::Slow, 1);
  f.delay_ms = delay_ms;
  return f;
}
Fault status(int code, const std::string& type, int times = 3) {
  return Fault{code, type, "injected " + std::to_string(code), times, 0};
}

/** The emulator with the Telemetry API on it, and the binary's environment. */
struct Lambda : test_support::FakePlatform {
  Lambda() { REQUIRE(api.start().ok()); }
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
    extra["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
    // These rows are about the reports themselves.
    extra.emplace("EXTENSION_RUNNER_ON_FAILURE", "report");
    return extra;
  }
  /** Error type of the accepted init/error or exit/error, "" when none was accepted. */
  std::string accepted_report() const {
    for (auto endpoint : {Endpoint::InitError, Endpoint::ExitError}) {
      for (const auto& c : api.calls_to(endpoint)) {
        if (c.status == 202) return c.header("Lambda-Extension-Function-Error-Type");
      }
    }
    return "";
  }
};

/**
 * Runs one row: `setup` queues the events and names the environment, the fault goes on
 * `endpoint`, then the outcome is checked.
 */
void run_row(const Row& row, Endpoint endpoint,
             const std::function<std::map<std::string, std::string>(Lambda&)>& setup) {
  INFO("fault: " << row.fault);
  Lambda lambda;
  if (row.transport) lambda.api.inject(endpoint, *row.transport);
  if (row.status) lambda.api.inject(endpoint, *row.status);
  if (endpoint == Endpoint::Subscribe && row.status) {
    FAIL("subscription status faults go through TelemetryEmulator::inject");
  }
  auto run = run_binary({}, setup(lambda), 30000);
  INFO(run.err);
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.code == row.expect.exit_code);
  CHECK(lambda.accepted_report() == row.expect.accepted_report);
  if (!row.expect.log_word.empty()) CHECK_THAT(run.err, Catch::Contains(row.expect.log_word));
}

const Outcome kExitOk{0, "", ""};

}  // namespace

TEST_CASE("faults: register") {
  // Without an identifier no report is possible: the host logs and exits 1 [EXT].
  const Outcome no_register{1, "", "register as"};
  const std::vector<Row> rows = {
      {"connection reset", transport(Transport::Reset), {}, no_register},
      {"closed before answering", transport(Transport::CloseBeforeAnswer), {}, no_register},
      {"closed mid-body", transport(Transport::CloseMidBody), {}, no_register},
      {"HTTP 500", {}, status(500, "Runtime.Unknown"), no_register},
      {"HTTP 403", {}, status(403, "Extension.InvalidExtensionName"), no_register},
      {"HTTP 400", {}, status(400, "InvalidRequestFormat"), no_register},
      {"non-JSON body, no identifier", body("<html>gateway</html>"), {}, no_register},
      {"truncated JSON body, no identifier", body(R"({"functionName":"f)"), {}, no_register},
      {"slow answer (300 ms)", slow(300), {}, kExitOk},
  };
  for (const auto& row : rows) {
    run_row(row, Endpoint::Register, [](Lambda& l) {
      l.api.push_shutdown("spindown", in_ms(3000));
      return l.env();
    });
  }
}

TEST_CASE("faults: event/next") {
  const auto exit_error = [](const std::string& type) {
    return Outcome{1, type, "exit/error " + type};
  };
  const std::vector<Row> rows = {
      {"connection reset", transport(Transport::Reset), {}, exit_error("Extension.ApiUnreachable")},
      // libcurl retries a request once on a fresh connection when a reused one dies first.
      {"connection reset once", transport(Transport::Reset, 1), {}, kExitOk},
      {"closed before answering",
       transport(Transport::CloseBeforeAnswer),
       {},
       exit_error("Extension.ApiUnreachable")},
      {"closed mid-body",
       transport(Transport::CloseMidBody),
       {},
       exit_error("Extension.ApiUnreachable")},
      {"HTTP 500", {}, status(500, "Runtime.Unknown"), exit_error("Extension.ApiFatal")},
      {"HTTP 403", {}, status(403, "Extension.Forbidden"), exit_error("Extension.ApiRejected")},
      {"HTTP 400", {}, status(400, "InvalidRequest"), exit_error("Extension.ApiRejected")},
      {"non-JSON body", body("not json at all"), {}, exit_error("Extension.ProtocolError")},
      {"truncated JSON body",
       body(R"({"eventType":"INVOKE","deadlineMs":)"),
       {},
       exit_error("Extension.ProtocolError")},
      {"slow answer (300 ms)", slow(300), {}, kExitOk},
  };
  for (const auto& row : rows) {
    run_row(row, Endpoint::Next, [](Lambda& l) {
      l.api.push_invoke("req-1", in_ms(5000));
      l.api.push_shutdown("spindown", in_ms(3000));
      return l.env();
    });
  }
}

namespace {

// init/error and exit/error answer every fault alike: the report is lost (logged, never retried
// forever) and the host exits 1 as it would have; only an answered 202 counts as delivered,
// whatever its body.
std::vector<Row> error_report_rows(const std::string& error_type) {
  const Outcome lost{1, "", error_type};
  const Outcome delivered{1, error_type.substr(error_type.find(' ') + 1), error_type};
  return {
      {"connection reset", transport(Transport::Reset), {}, lost},
      {"closed before answering", transport(Transport::CloseBeforeAnswer), {}, lost},
      {"closed mid-body", transport(Transport::CloseMidBody), {}, lost},
      {"HTTP 500", {}, status(500, "Runtime.Unknown"), lost},
      {"HTTP 403", {}, status(403, "Extension.Forbidden"), lost},
      {"HTTP 400", {}, status(400, "InvalidRequest"), lost},
      {"slow answer past the report timeout (3 s)", slow(3000), {}, lost},
      {"non-JSON body with 202", body("accepted, sort of", 202), {}, delivered},
      {"slow answer (300 ms)", slow(300), {}, delivered},
  };
}

}  // namespace

TEST_CASE("faults: init/error") {
  // The child exits during startup: the host reports init/error ChildStartupFailed.
  for (const auto& row : error_report_rows("init/error Extension.ChildStartupFailed")) {
    run_row(row, Endpoint::InitError, [](Lambda& l) {
      return l.env({{"EXTENSION_RUNNER_COMMAND", "echo cannot start >&2; exit 3"}});
    });
  }
}

TEST_CASE("faults: exit/error") {
  for (const auto& row : error_report_rows("exit/error Extension.ProtocolError")) {
    run_row(row, Endpoint::ExitError, [](Lambda& l) {
      l.api.push_raw_event(R"({"eventType":"INVOKE"})");  // malformed: no requestId
      return l.env();
    });
  }
}

TEST_CASE("faults: telemetry subscription") {
  const Outcome refused{1, "Extension.SubscribeFailed", "init/error Extension.SubscribeFailed"};
  const std::vector<Row> rows = {
      {"connection reset", transport(Transport::Reset), {}, refused},
      {"closed before answering", transport(Transport::CloseBeforeAnswer), {}, refused},
      {"closed mid-body", transport(Transport::CloseMidBody), {}, refused},
      {"HTTP 500",
       body(R"({"errorType":"ServiceException","errorMessage":"x"})", 500),
       {},
       refused},
      {"HTTP 403",
       body(R"({"errorType":"AccessDeniedException","errorMessage":"x"})", 403),
       {},
       refused},
      {"HTTP 400", body(R"({"errorType":"ValidationError","errorMessage":"x"})", 400), {}, refused},
      {"non-JSON body with 500", body("<html>bad gateway</html>", 500), {}, refused},
      {"slow answer (300 ms)", slow(300), {}, kExitOk},
  };
  for (const auto& row : rows) {
    run_row(row, Endpoint::Subscribe, [](Lambda& l) {
      l.api.push_invoke("req-1", in_ms(5000));
      l.api.push_shutdown("spindown", in_ms(3000));
      return l.env({{"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                    {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"},
                    {"EXTENSION_RUNNER_FLUSH", "periodic"}});
    });
  }
}

TEST_CASE("faults: the API disappears between calls") {
  struct Case {
    std::string what;
    Endpoint vanishes_after;
    std::map<std::string, std::string> env;
    Outcome expect;
  };
  const std::vector<Case> cases = {
      // Gone before the first /next: nothing can be reported.
      {"after register", Endpoint::Register, {}, {1, "", "could not report exit/error"}},
      // Gone after one INVOKE was handed out.
      {"after the first /next", Endpoint::Next, {}, {1, "", "could not report exit/error"}},
      // Gone before the subscription: init/error cannot be delivered either.
      {"before the subscription",
       Endpoint::Register,
       {{"EXTENSION_RUNNER_TELEMETRY", "telemetry"}, {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"}},
       {1, "", "could not report init/error"}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Lambda lambda;
    lambda.api.inject(c.vanishes_after, transport(Transport::VanishAfter, 1));
    lambda.api.push_invoke("req-1", in_ms(5000));
    lambda.api.push_invoke("req-2", in_ms(5000));
    auto run = run_binary({}, lambda.env(c.env), 30000);
    INFO(run.err);
    CHECK(lambda.api.vanished());
    CHECK_FALSE(run.timed_out);
    CHECK(run.status.code == c.expect.exit_code);
    CHECK(lambda.accepted_report() == c.expect.accepted_report);
    CHECK_THAT(run.err, Catch::Contains(c.expect.log_word));
  }
}
