#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "extension_runner/config.hpp"
#include "extension_runner/emulate.hpp"
#include "extension_runner/extensions_api.hpp"
#include "extension_runner/host.hpp"
#include "extension_runner/invoke_mode.hpp"
#include "extension_runner/lifecycle.hpp"
#include "extension_runner/log.hpp"
#include "extension_runner/scenario.hpp"

namespace extension_runner::cli {
namespace {

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void apply_logging(const Config& config, const std::string& name) {
  set_log_level(config.log_level);
  set_log_format(config.log_format);
  set_log_name(name);
}

// Inside Lambda a bad setting must still reach the platform as init/error, which needs an
// identifier: register, report, leave.
void report_config_error_to_lambda(const std::string& runtime_api, const std::string& name,
                                   const Error& error) {
  ExtensionsClient client(runtime_api);
  if (auto reg = client.register_extension(name); !reg) return;
  (void)client.init_error(ErrorReport{std::string(error_type(error.kind)), error.message, {}});
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "extension-runner: an AWS Lambda extension host.\n"
      "Without a subcommand it runs the Lambda Extensions API lifecycle (inside Lambda).\n"
      "Every setting is an environment variable and the same-named flag (flag wins).\n\n"
      "Example (local):  extension-runner emulate --command 'python3 examples/python/runner.py'",
      "extension-runner"};
  app.set_version_flag("--version", std::string("extension-runner ") + ER_VERSION);
  app.option_defaults()->group("Settings");

  // One option per row of the settings table; given values are collected by flag name.
  std::deque<std::string> values;
  std::map<std::string, CLI::Option*> options;
  for (const auto& s : settings()) {
    values.emplace_back();
    std::string help = s.help + " [env " + s.env + "]";
    if (!s.default_value.empty()) help += " (default " + s.default_value + ")";
    options[s.flag] = app.add_option("--" + s.flag, values.back(), help);
  }

  EmulateOptions emulate_options;
  CLI::App* emulate = app.add_subcommand(
      "emulate",
      "Run the whole lifecycle locally against an embedded Extensions API emulator.\n"
      "Example: extension-runner emulate --invokes 3 --command 'python3 "
      "examples/python/runner.py'");
  emulate->fallthrough();
  std::string scenario_path;
  std::string runtime_command;
  std::optional<int> invokes;
  emulate->add_option("--scenario", scenario_path, "scenario JSON file (see README)");
  emulate->add_option("--invokes", invokes, "number of INVOKE events (overrides the scenario)")
      ->check(CLI::Range(0, 100000));
  emulate->add_option("--runtime", runtime_command, "child runtime command (same as --command)");
  emulate->add_flag("--json", emulate_options.json, "print the trace as JSON lines");
  bool emulate_telemetry = false;
  emulate->add_flag("--telemetry", emulate_telemetry,
                    "subscribe to the Telemetry API (EXTENSION_RUNNER_TELEMETRY=telemetry)");

  InvokeModeOptions invoke_options;
  CLI::App* invoke = app.add_subcommand(
      "invoke",
      "Start a child runtime, send it one event, print its InvokeReply (with billing) as JSON.\n"
      "Exit 0 when errors is false, 1 when true, 2 on usage errors or startup failure.\n"
      "Example: echo '{\"eventType\":\"INVOKE\"}' | extension-runner invoke --runtime 'python3 "
      "examples/python/runner.py' --event -");
  invoke->fallthrough();
  invoke->add_option("--runtime", invoke_options.runtime, "child runtime command")->required();
  auto* event_opt =
      invoke->add_option("--event", invoke_options.event_path, "event JSON file, or - for stdin");
  auto* request_opt =
      invoke->add_option("--request", invoke_options.request_path,
                         "seed ProxyRequest JSON file {context, remaining, env, event}");
  event_opt->excludes(request_opt);
  invoke->add_option("--handler", invoke_options.handler, "handler sent in the StartupRequest");
  invoke
      ->add_option("--timeout", invoke_options.timeout_ms, "deadline in ms from now (default 3000)")
      ->check(CLI::Range(int64_t{1}, int64_t{900000}));
  invoke->add_option("--memory", invoke_options.memory_mb, "memory size in MB for billing.memory")
      ->check(CLI::Range(1, 10240));
  invoke->add_option("--repeat", invoke_options.repeat, "send the event N times, then a summary")
      ->check(CLI::Range(1, 1000000));

  try {
    app.parse(argc, argv);
    if (invoke->parsed() && event_opt->count() == 0 && request_opt->count() == 0) {
      throw CLI::ValidationError("invoke", "needs --event FILE|- or --request FILE");
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "extension-runner: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }

  std::map<std::string, std::string> given;
  size_t i = 0;
  for (const auto& s : settings()) {
    if (options[s.flag]->count() > 0) given[s.flag] = values[i];
    ++i;
  }
  if (!runtime_command.empty()) given["command"] = runtime_command;
  if (emulate_telemetry && given.count("telemetry") == 0) given["telemetry"] = "telemetry";
  auto config = load_config(given, process_env());
  const std::string default_name = basename_of(argc > 0 ? argv[0] : "extension-runner");
  if (!config) {
    std::cerr << "extension-runner: " << config.error().message << '\n';
    const auto api = process_env()("AWS_LAMBDA_RUNTIME_API");
    if (!emulate->parsed() && !invoke->parsed() && api && !api->empty()) {
      auto name = process_env()("EXTENSION_RUNNER_NAME");
      report_config_error_to_lambda(*api, name && !name->empty() ? *name : default_name,
                                    config.error());
    }
    return kExitUsage;
  }
  const std::string name = config->name.empty() ? default_name : config->name;
  apply_logging(*config, name);

  if (invoke->parsed()) return run_invoke_mode(*config, name, invoke_options);

  if (emulate->parsed()) {
    if (!scenario_path.empty()) {
      auto scenario = load_scenario(scenario_path);
      if (!scenario) {
        std::cerr << "extension-runner: " << scenario.error().message << '\n';
        return kExitUsage;
      }
      emulate_options.scenario = *scenario;
    }
    if (invokes) emulate_options.scenario.invokes = *invokes;
    return run_emulation(*config, name, emulate_options,
                         [](const Config& c, ReplyObserver observer) {
                           return make_host_handler(c, "emulate", std::move(observer));
                         });
  }

  if (config->runtime_api.empty()) {
    std::cerr << "extension-runner: AWS_LAMBDA_RUNTIME_API is not set: Lambda sets it for "
                 "extensions; to try it locally run `extension-runner emulate` (see --help)\n";
    return kExitUsage;
  }
  auto handler = make_host_handler(*config, "lambda");
  return run_lifecycle(*config, name, *handler);
}

}  // namespace extension_runner::cli
