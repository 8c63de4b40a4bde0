#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "check_command.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/debug/emulate.hpp"
#include "extension_runner/debug/invoke_mode.hpp"
#include "extension_runner/debug/layer_root.hpp"
#include "extension_runner/debug/scenario.hpp"
#include "extension_runner/host/config_file.hpp"
#include "extension_runner/host/host.hpp"
#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/runner/process.hpp"
#include "wrap_command.hpp"

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

/**
 * What a subcommand's --help says of the settings: they are the main command's flags (CLI11
 * passes them through), so their names are listed here, wrapped, with where to read more.
 */
std::string settings_footer() {
  std::string text =
      "Settings: every setting is accepted here too, as a flag, an environment variable or a "
      "key of the configuration file (`extension-runner --help` describes each):\n ";
  size_t column = 1;
  for (const auto& s : settings()) {
    const std::string flag = " --" + s.flag;
    if (column + flag.size() > 90) {
      text += "\n ";
      column = 1;
    }
    text += flag;
    column += flag.size();
  }
  return text;
}

/** One `--<flag>` per row of the settings table; remembers which ones were given. */
class SettingOptions {
 public:
  void add_to(CLI::App& app) {
    app.option_defaults()->group("Settings");
    for (const auto& s : settings()) {
      values_.emplace_back();
      std::string help = s.help + " [env " + s.env + "]";
      if (!s.default_value.empty()) help += " (default " + s.default_value + ")";
      // The kind in place of CLI11's TEXT: INT 100-9000, sync|async, HOST:PORT, COMMAND.
      options_.push_back(
          app.add_option("--" + s.flag, values_.back(), help)->type_name(s.kind.help_type()));
    }
  }

  /** Flag name → value, for the flags given on the command line. */
  std::map<std::string, std::string> given() const {
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < options_.size(); ++i) {
      if (options_[i]->count() > 0) out[settings()[i].flag] = values_[i];
    }
    return out;
  }

 private:
  std::deque<std::string> values_;  // a deque: CLI11 keeps pointers to the elements
  std::vector<CLI::Option*> options_;
};

/** `extension-runner emulate …`. */
class EmulateCommand {
 public:
  void add_to(CLI::App& app) {
    command_ = app.add_subcommand(
        "emulate",
        "Run the whole lifecycle locally against an embedded Extensions API emulator.\n"
        "Example: extension-runner emulate --telemetry --runtime 'python3 "
        "examples/python/runner.py'");
    command_->fallthrough();  // the settings flags belong to the main app
    command_->footer(settings_footer());
    command_->option_defaults()->group("Options");
    command_->add_option("--scenario", scenario_path_, "scenario JSON file (see README)");
    command_->add_option("--invokes", invokes_, "number of INVOKE events (overrides the scenario)")
        ->check(CLI::Range(0, 100000));
    command_->add_option("--runtime", runtime_, "alias of --command: the child runtime command");
    command_->add_flag("--json", options_.json, "print the trace as JSON lines");
    // The same values as the setting's --telemetry; alone it means `telemetry`.
    command_
        ->add_option("--telemetry", telemetry_,
                     "off, telemetry or logs, as the setting; --telemetry alone is telemetry")
        ->expected(0, 1)
        ->check(CLI::IsMember({"", "off", "telemetry", "logs"}));
    command_->add_flag("--managed-instances", managed_instances_,
                       "play Lambda Managed Instances: SHUTDOWN-only registration, concurrent "
                       "invocations seen only in telemetry (scenario managedInstances)");
    command_
        ->add_option("--concurrency", concurrency_,
                     "invocations in flight at once with --managed-instances (scenario "
                     "concurrency)")
        ->check(CLI::Range(1, 64));
    command_->add_option("--function", options_.function_command,
                         "with --proxy observe|intercept: the function's runtime, a command "
                         "speaking the Runtime API through AWS_LAMBDA_RUNTIME_API, started as "
                         "`wrap -- CMD` would (default: a built-in echo function)");
    command_->add_option("--layer", layer_zip_,
                         "run a packaged layer zip instead: unpacked into a scratch folder, its "
                         "own binary and configuration, then removed");
    command_->add_option("--interpreter", interpreters_,
                         "with --layer: LAMBDA_PATH=LOCAL for a path the layer's command names "
                         "(default /var/lang/bin/python3=python3, /var/lang/bin/node=node)");
  }

  bool parsed() const { return command_->parsed(); }
  bool runs_layer() const { return !layer_zip_.empty(); }

  /**
   * `emulate --layer ZIP`: the layer's own binary runs `emulate` with the rest of the command
   * line, configured by its own file, as Lambda would find it.
   */
  int run_layer(const std::string& program, int argc, char** argv) const {
    std::vector<PathMapping> mappings;
    for (const auto& text : interpreters_) {
      auto mapping = parse_path_mapping(text);
      if (!mapping) {
        std::cerr << program << ": " << mapping.error().message << '\n';
        return kExitUsage;
      }
      mappings.push_back(*mapping);
    }
    for (auto& d : default_interpreters()) {
      const bool given = std::any_of(mappings.begin(), mappings.end(),
                                     [&](const PathMapping& m) { return m.from == d.from; });
      if (!given) mappings.push_back(d);
    }
    auto layer = LayerRoot::unpack(layer_zip_);
    if (layer) {
      if (auto localised = layer->localise_config(mappings); !localised) layer = localised.error();
    }
    if (!layer) {
      std::cerr << program << ": " << layer.error().message << '\n';
      return kExitUsage;
    }
    std::cerr << layer->name() << ": emulate --layer: extensions/" << layer->name() << " from "
              << layer->path() << " (Lambda's /opt; removed at exit)\n";
    return run_layer_binary(*layer, args_without_layer(argc, argv));
  }

  /**
   * Reads the scenario and applies the flags that override it; false (message printed) when
   * the scenario is unusable. Before load_config: the scenario can select the platform.
   */
  bool prepare(const std::string& program) {
    if (!scenario_path_.empty()) {
      auto scenario = load_scenario(scenario_path_);
      if (!scenario) {
        std::cerr << program << ": " << scenario.error().message << '\n';
        return false;
      }
      options_.scenario = *scenario;
    }
    if (invokes_) options_.scenario.invokes = *invokes_;
    if (managed_instances_) options_.scenario.managed_instances = true;
    if (concurrency_) options_.scenario.concurrency = *concurrency_;
    if (options_.scenario.concurrency > 1 && !options_.scenario.managed_instances) {
      std::cerr << program << ": concurrency " << options_.scenario.concurrency
                << " needs --managed-instances (scenario managedInstances): on the standard "
                   "platform an environment runs one invocation at a time\n";
      return false;
    }
    return true;
  }

  /** Its flags that stand for settings. */
  void add_settings(std::map<std::string, std::string>& given) const {
    if (!runtime_.empty()) given["command"] = runtime_;
    if (command_->count("--telemetry") > 0) {
      given["telemetry"] = telemetry_.empty() ? "telemetry" : telemetry_;
    }
    // As Lambda would tell the extension: through AWS_LAMBDA_INITIALIZATION_TYPE [LMI].
    if (options_.scenario.managed_instances)
      given["initialization-type"] = kManagedInstancesInitType;
  }

  int run(const Config& config, const std::string& name) {
    if (auto refused = refuse_proxy_combination(config); !refused.empty()) {
      std::cerr << name << ": " << refused << '\n';
      return kExitUsage;
    }
    return run_emulation(config, name, options_, [](const Config& c, ReplyObserver observer) {
      return make_extension(c, HostMode::Emulate, std::move(observer));
    });
  }

 private:
  CLI::App* command_ = nullptr;
  EmulateOptions options_;
  std::string scenario_path_;
  std::string runtime_;
  std::optional<int> invokes_;
  std::optional<int> concurrency_;
  std::string telemetry_;
  bool managed_instances_ = false;
  std::string layer_zip_;
  std::vector<std::string> interpreters_;

  // What the proxy's emulation cannot play; "" when the combination is fine. (A proxy without a
  // child is refused by load_config already: the hooks run in the child.)
  std::string refuse_proxy_combination(const Config& config) const {
    const bool proxy_on = config.proxy.mode != ProxyMode::Off;
    if (!options_.function_command.empty() && !proxy_on) {
      return "emulate --function needs --proxy observe|intercept: without the proxy no runtime "
             "is played";
    }
    return "";
  }

  // The command line minus the program and --layer / --interpreter (and their values).
  static std::vector<std::string> args_without_layer(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--layer" || arg == "--interpreter") {
        ++i;
        continue;
      }
      if (arg.rfind("--layer=", 0) == 0 || arg.rfind("--interpreter=", 0) == 0) continue;
      args.push_back(arg);
    }
    return args;
  }
};

/** `extension-runner invoke …`. */
class InvokeCommand {
 public:
  void add_to(CLI::App& app) {
    command_ = app.add_subcommand(
        "invoke",
        "Start a child runtime, send it one event, print its InvokeReply (with billing) as JSON.\n"
        "Exit 0 when errors is false, 1 when true, 2 on usage errors or startup failure.\n"
        "Example: echo '{\"eventType\":\"INVOKE\"}' | extension-runner invoke --runtime 'python3 "
        "examples/python/runner.py' --event -");
    command_->fallthrough();
    command_->footer(settings_footer());
    command_->option_defaults()->group("Options");
    command_->add_option("--runtime", options_.runtime,
                         "alias of --command: the child runtime command");
    event_ =
        command_->add_option("--event", options_.event_path, "event JSON file, or - for stdin");
    request_ = command_->add_option("--request", options_.request_path,
                                    "seed ProxyRequest JSON file {context, remaining, env, event}");
    event_->excludes(request_);
    command_->add_option("--handler", options_.handler, "handler sent in the StartupRequest");
    command_->add_option("--timeout", options_.timeout_ms, "deadline in ms from now (default 3000)")
        ->check(CLI::Range(int64_t{1}, int64_t{900000}));
    command_->add_option("--memory", options_.memory_mb, "memory size in MB for billing.memory")
        ->check(CLI::Range(1, 10240));
    command_->add_option("--repeat", options_.repeat, "send the event N times, then a summary")
        ->check(CLI::Range(1, 1000000));
  }

  bool parsed() const { return command_->parsed(); }

  /** What CLI11 cannot express: one of --event / --request is required. */
  void validate() const {
    if (parsed() && event_->count() == 0 && request_->count() == 0) {
      throw CLI::ValidationError("invoke", "needs --event FILE|- or --request FILE");
    }
  }

  int run(const Config& config, const std::string& name) const {
    InvokeModeOptions options = options_;
    if (options.runtime.empty()) options.runtime = config.runner.command;
    if (options.runtime.empty()) {
      std::cerr << name
                << ": invoke needs the child runtime: --command CMD (or "
                   "EXTENSION_RUNNER_COMMAND)\n";
      return kExitUsage;
    }
    return run_invoke_mode(config, name, options);
  }

 private:
  CLI::App* command_ = nullptr;
  CLI::Option* event_ = nullptr;
  CLI::Option* request_ = nullptr;
  InvokeModeOptions options_;
};

/**
 * After the command line: loads the configuration and runs the chosen mode, a debug
 * subcommand when `emulate` or `invoke` is given (parsed), else Lambda mode.
 */
int run_configured(const std::string& argv0, std::map<std::string, std::string> given,
                   EmulateCommand* emulate, const InvokeCommand* invoke) {
  if (emulate != nullptr) emulate->add_settings(given);
  const std::string default_name = basename_of(argv0);
  auto config = load_config(given, process_env(), {default_name, layer_root_of(argv0)});
  if (!config) {
    std::cerr << default_name << ": " << config.error().message << '\n';
    const auto api = process_env()("AWS_LAMBDA_RUNTIME_API");
    if (emulate == nullptr && invoke == nullptr && api && !api->empty()) {
      auto name = process_env()("EXTENSION_RUNNER_NAME");
      // Inside Lambda a bad setting must still reach the platform, as init/error.
      report_config_error(*api, name && !name->empty() ? *name : default_name, config.error());
    }
    return kExitUsage;
  }
  const std::string name = config->name.empty() ? default_name : config->name;
  apply_logging(*config, name);
  if (!config->config_file.empty()) log_info("configuration file " + config->config_file);

  if (invoke != nullptr) return invoke->run(*config, name);
  if (emulate != nullptr) return emulate->run(*config, name);

  if (config->runtime_api.empty()) {
    std::cerr << name
              << ": AWS_LAMBDA_RUNTIME_API is not set: Lambda sets it for "
                 "extensions; to try it locally run `extension-runner emulate` (see --help)\n";
    return kExitUsage;
  }
  end_children_on_termination_signals();
  auto extension = make_extension(*config, HostMode::Lambda);
  return run_lifecycle(*config, name, extension);
}

/** The debug mode's subcommands. */
struct DebugCommands {
  EmulateCommand emulate;
  InvokeCommand invoke;

  void add_to(CLI::App& app) {
    emulate.add_to(app);
    invoke.add_to(app);
  }
  bool emulating() const { return emulate.parsed(); }
  bool invoking() const { return invoke.parsed(); }
};

// Lambda starts an extension without arguments, so the debug subcommands (their option objects,
// validators and help texts) are built only when the command line may name one, or asks for the
// help that lists them: Lambda mode constructs nothing of the debug mode. A flag's value that
// happens to be a subcommand's name only builds them for nothing; CLI11 still reads it as the
// value.
bool may_name_debug_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "emulate" || arg == "invoke" || arg == "-h" || arg == "--help") return true;
  }
  return false;
}

}  // namespace

int run(int argc, char** argv) {
  const std::string argv0 = argc > 0 ? argv[0] : "extension-runner";
  // Lambda starts each file in /opt/extensions as it is, without arguments [CFG][RIE]: there is
  // nothing to parse, and building CLI11's parser (a flag per setting, both subcommands) was
  // most of the work from exec to register (bench/README.md, "Where the time and pages go").
  // With any argument the parser is built as always.
  if (argc <= 1) return run_configured(argv0, {}, nullptr, nullptr);
  // `wrap` runs the function's runtime: no parser that could refuse an argument of the
  // runtime's, and no error that stops it (wrap_command.hpp).
  if (std::string_view(argv[1]) == "wrap") {
    const int first = argc > 2 && std::string_view(argv[2]) == "--" ? 3 : 2;
    return run_wrap(argv0, std::vector<std::string>(argv + first, argv + argc));
  }

  CLI::App app{
      "extension-runner: an AWS Lambda extension host.\n"
      "Without a subcommand it runs the Lambda Extensions API lifecycle (inside Lambda).\n"
      "Every setting is an environment variable, the same-named flag and a key of the\n"
      "configuration file /opt/<name>/extension-runner.json (flag > env > file > default).\n\n"
      "Example (local):  extension-runner emulate --runtime 'python3 examples/python/runner.py'\n"
      "With the Runtime API proxy: extension-runner emulate --proxy intercept --runtime CMD\n"
      "  [--function RUNTIME_CMD] (docs/debug-mode.md)\n"
      "`extension-runner wrap -- CMD ARGS...` (the layer's exec wrapper) runs CMD pointed at\n"
      "the Runtime API proxy when EXTENSION_RUNNER_PROXY is on (docs/proxy.md).",
      "extension-runner"};
  app.set_version_flag("--version", std::string("extension-runner ") + ER_VERSION);
  SettingOptions setting_options;
  setting_options.add_to(app);
  std::optional<DebugCommands> debug;
  if (may_name_debug_command(argc, argv)) debug.emplace().add_to(app);
  CheckCommand check;
  check.add_to(app, settings_footer());

  try {
    app.parse(argc, argv);
    if (debug) debug->invoke.validate();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << basename_of(argv0) << ": " << e.what() << " (see --help)\n";
    return kExitUsage;
  }

  if (check.parsed()) {
    return check.run(setting_options.given(), basename_of(argv0), layer_root_of(argv0));
  }
  EmulateCommand* emulate = debug && debug->emulating() ? &debug->emulate : nullptr;
  const InvokeCommand* invoke = debug && debug->invoking() ? &debug->invoke : nullptr;
  if (emulate != nullptr && emulate->runs_layer())
    return emulate->run_layer(basename_of(argv0), argc, argv);
  if (emulate != nullptr && !emulate->prepare(basename_of(argv0))) return kExitUsage;
  return run_configured(argv0, setting_options.given(), emulate, invoke);
}

}  // namespace extension_runner::cli
