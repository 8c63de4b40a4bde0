#include "extension_runner/emulate.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "extension_runner/clock.hpp"
#include "extension_runner/emulator.hpp"
#include "extension_runner/events.hpp"
#include "extension_runner/json.hpp"
#include "extension_runner/log.hpp"
#include "extension_runner/process.hpp"

namespace extension_runner {
namespace {

const char* endpoint_name(Endpoint e) {
  switch (e) {
    case Endpoint::Register: return "register";
    case Endpoint::Next: return "next";
    case Endpoint::InitError: return "init/error";
    case Endpoint::ExitError: return "exit/error";
    case Endpoint::Other: return "other";
  }
  return "other";
}

/** Prints one line per API call, relative to the start of the emulation. */
class Tracer {
 public:
  Tracer(int64_t start_ms, bool json) : start_ms_(start_ms), json_(json) {}

  void on_call(const RecordedCall& call) {
    std::string summary;
    switch (call.endpoint) {
      case Endpoint::Register:
        summary = "name=" + call.header("Lambda-Extension-Name") + " -> " +
                  std::to_string(call.status);
        break;
      case Endpoint::Next:
        if (call.status == 200) {
          auto event = parse_event(call.response_body);
          if (event) {
            summary = std::string(event_type(*event));
            if (auto* inv = std::get_if<InvokeEvent>(&*event)) summary += " " + inv->request_id;
            if (auto* sd = std::get_if<ShutdownEvent>(&*event)) {
              summary += " reason=" + sd->shutdown_reason;
            }
          }
        } else {
          summary = "-> " + std::to_string(call.status) + " " + call.response_body;
        }
        break;
      case Endpoint::InitError:
      case Endpoint::ExitError:
        summary = call.header("Lambda-Extension-Function-Error-Type") + " " + call.body + " -> " +
                  std::to_string(call.status);
        break;
      case Endpoint::Other:
        summary = call.method + " " + call.path + " -> " + std::to_string(call.status);
        break;
    }
    line("api", endpoint_name(call.endpoint), summary, call.time_ms);
  }

  void line(const std::string& source, const std::string& what, const std::string& detail,
            int64_t at_ms) {
    std::string out;
    if (json_) {
      out = R"({"t_ms":)" + std::to_string(at_ms - start_ms_) + R"(,"source":)" +
            json_quote(source) + R"(,"what":)" + json_quote(what) + R"(,"detail":)" +
            json_quote(detail) + "}\n";
    } else {
      char prefix[48];
      std::snprintf(prefix, sizeof prefix, "[+%6lld ms] %-9s ",
                    static_cast<long long>(at_ms - start_ms_), what.c_str());
      out = std::string(prefix) + detail + "\n";
    }
    std::lock_guard<std::mutex> lock(mutex_);
    (void)write_all(STDOUT_FILENO, out.data(), out.size());
  }

 private:
  int64_t start_ms_;
  bool json_;
  std::mutex mutex_;
};

}  // namespace

int run_emulation(Config config, const std::string& name, const EmulateOptions& options,
                  const HandlerFactory& make_handler) {
  const int64_t start = wall_clock_ms();
  Tracer tracer(start, options.json);
  Emulator emulator;
  emulator.set_observer([&tracer](const RecordedCall& call) { tracer.on_call(call); });
  if (auto started = emulator.start(); !started) {
    log_error(started.error().message);
    return kExitFailure;
  }
  config.runtime_api = emulator.runtime_api();
  tracer.line("emulator", "start", "Extensions API on " + config.runtime_api, wall_clock_ms());

  // Like Lambda, hand out the next event only once the extension is waiting for it, so each
  // deadline is measured from when the invoke really starts.
  std::atomic<bool> done{false};
  std::thread driver([&] {
    for (int i = 0; i <= options.invokes && !done; ++i) {
      while (!done && !emulator.wait_for_idle_next(std::chrono::milliseconds(500))) {
      }
      if (done) break;
      if (i < options.invokes) {
        emulator.push_invoke(random_uuid(), wall_clock_ms() + options.function_timeout_ms);
      } else {
        emulator.push_shutdown(options.shutdown_reason,
                               wall_clock_ms() + options.shutdown_budget_ms);
      }
    }
  });

  auto handler = make_handler(config);
  const int code = run_lifecycle(config, name, *handler);
  done = true;
  emulator.stop();
  driver.join();

  tracer.line("emulator", "summary",
              "exit code " + std::to_string(code) + ", " + std::to_string(emulator.calls().size()) +
                  " API calls in " + std::to_string(wall_clock_ms() - start) + " ms",
              wall_clock_ms());
  return code;
}

}  // namespace extension_runner
