#pragma once
/**
 * @file settings.hpp
 * Every setting is an environment variable, a same-named flag and a key of the configuration
 * file (host/config_file.hpp); flag > env > file > default.
 * The flag name is the variable without its `EXTENSION_RUNNER_` / `AWS_LAMBDA_` prefix,
 * lower-case, dashes for underscores (`EXTENSION_RUNNER_NAME` ↔ `--name`).
 * Invalid values produce a ConfigInvalid error naming the setting (and the file, when the value
 * came from one).
 */
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/core/log.hpp"
#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/platform.hpp"
#include "extension_runner/messages/options.hpp"
#include "extension_runner/proxy/options.hpp"
#include "extension_runner/runner/options.hpp"
#include "extension_runner/telemetry/options.hpp"

namespace extension_runner {

/**
 * What values a setting takes. `--help` shows help_type() in place of TEXT and the README's
 * "Kind" column shows readme_text(); a unit test checks load_config accepts exactly what an
 * Integer / OneOf / List kind promises (its bounds, its choices). Build one with the kind::
 * helpers below.
 */
struct SettingKind {
  enum class Type { Text, Integer, OneOf, List, HostPort, Command };
  Type type = Type::Text;
  std::string label = "TEXT";        ///< Text: what the text is, e.g. NAME, HANDLER.
  int64_t min = 0;                   ///< Integer: smallest accepted value.
  int64_t max = 0;                   ///< Integer: largest accepted value.
  std::vector<std::string> choices;  ///< OneOf / List: the accepted values, in help order.
  /** For `--help`, e.g. `INT 100-9000`, `sync|async`, `HOST:PORT`, `COMMAND`. */
  std::string help_type() const;
  /** For the README's "Kind" column, e.g. `integer 100-9000`, `one of: sync, async`. */
  std::string readme_text() const;
};

/** The ways to fill SettingSpec::kind: `kind::integer(100, 9000)`, `kind::one_of({…})`, … */
namespace kind {
/** An integer from `min` to `max` inclusive. */
SettingKind integer(int64_t min, int64_t max);
/** Exactly one of `choices` (as load_config compares them). */
SettingKind one_of(std::vector<std::string> choices);
/** A comma-separated list of some of `choices`. */
SettingKind list_of(std::vector<std::string> choices);
/** `host:port`. */
SettingKind host_port();
/** A shell command, run with /bin/sh -c. */
SettingKind command();
/** Free text; `label` says what it is (NAME, HANDLER, SCHEMA-VERSION, …). */
SettingKind text(std::string label);
}  // namespace kind

/**
 * Which JSON values a setting takes in the configuration file. A JSON string is always taken
 * (it is what the environment variable would hold); Integer also takes a JSON integer and
 * Boolean a JSON true/false. FromDefault: Integer when the row's default is an integer,
 * Boolean when it is `true` or `false`, else Text (see setting_type()).
 */
enum class SettingType { FromDefault, Text, Integer, Boolean };

struct Config;
struct SettingSpec;

/** Checks a value against its row (kind, bounds, choices) and stores it where it belongs. */
using SettingApply =
    std::function<Result<void>(const SettingSpec& spec, const std::string& value, Config& config)>;

/**
 * One row of the settings table: the CLI, the README, the configuration file and load_config
 * all read it. A new setting is one row (and a field in the options of the part that uses it).
 */
struct SettingSpec {
  std::string env;   ///< Environment variable, e.g. `EXTENSION_RUNNER_NAME`.
  std::string flag;  ///< Long flag without dashes, e.g. `name`.
  /**
   * Used when neither flag, env nor file sets it ("" = unset). Not written in the table: it is
   * the default of the field the row stores into, as the part's options declare it, spelt as
   * the setting would be.
   */
  std::string default_value;
  std::string help;       ///< One line for `--help` and the README table.
  SettingKind kind = {};  ///< What values it takes (default free TEXT; a test wants one).
  SettingType type = SettingType::FromDefault;  ///< JSON values the file may give it.
  SettingApply apply;  ///< Validates a value by `kind` (and the row's own rules), stores it.
};

/** The JSON type a row takes in the configuration file, FromDefault resolved. */
SettingType setting_type(const SettingSpec& spec);

/** The settings table, in documentation order. */
const std::vector<SettingSpec>& settings();

/**
 * What a failure of the child, the telemetry listener or the subscription does to the function
 * (EXTENSION_RUNNER_ON_FAILURE; docs/platform-teams.md). Configuration errors are reported
 * either way.
 */
enum class FailurePolicy {
  Report,    ///< init/error (the function's init fails) or exit/error (the environment resets).
  Continue,  ///< One ERROR line, counted; the extension answers `/next` until SHUTDOWN, exit 0.
};

/**
 * The validated configuration: the Extensions API side (this part's and the lambda part's
 * settings), and each part's own options value.
 */
struct Config {
  std::string runtime_api;  ///< host:port from AWS_LAMBDA_RUNTIME_API; required in Lambda mode.
  std::string name;         ///< Lambda-Extension-Name; "" = basename of argv[0].
  /** Total limit of register, subscribe, init/error and exit/error (never `/event/next`). */
  int64_t api_timeout_ms = 2000;
  /**
   * The configuration file that was read (absolute path), "" when none was: for the init
   * config line. Relative paths in it were resolved against its folder.
   */
  std::string config_file;
  LogLevel log_level = LogLevel::Info;
  LogFormat log_format = LogFormat::Text;
  /** Register body `events` (EXTENSION_RUNNER_EVENTS): INVOKE+SHUTDOWN, or SHUTDOWN alone. */
  std::vector<std::string> events{"INVOKE", "SHUTDOWN"};
  /** From AWS_LAMBDA_INITIALIZATION_TYPE (`lambda-managed-instances` → ManagedInstances). */
  Platform platform = Platform::Lambda;
  /** Continue: an extension must never be the reason a function fails (README, Failures). */
  FailurePolicy on_failure = FailurePolicy::Continue;

  RunnerOptions runner;        ///< The child runtime.
  TelemetryOptions telemetry;  ///< The Telemetry / Logs API subscription and delivery.
  ProxyOptions proxy;          ///< The Runtime API proxy (docs/proxy.md).
  MessagesOptions messages;    ///< The function's local messages endpoint.

  /** Whether INVOKE is registered (false: a shutdown-only extension, as on Managed Instances). */
  bool receives_invokes() const;
};

/** Looks up an environment variable; nullopt when unset. */
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
/** The process environment. */
EnvLookup process_env();

/** Where load_config looks for a configuration file when EXTENSION_RUNNER_CONFIG is unset. */
struct ConfigFileLookup {
  /** The name the extension registers with when EXTENSION_RUNNER_NAME is unset (argv[0]'s). */
  std::string default_name;
  /**
   * The folder holding `<name>/extension-runner.json`: `/opt` in Lambda, where layers are
   * extracted [CFG] (layer_root_of() derives it from argv[0]). "" = look for no default file.
   */
  std::string layer_root;
};

/**
 * Builds a Config from flag values (keyed by SettingSpec::flag), the environment and the
 * configuration file: `EXTENSION_RUNNER_CONFIG` when set (it must exist), else
 * `<layer_root>/<name>/extension-runner.json` when that exists, `<name>` being
 * EXTENSION_RUNNER_NAME or `lookup.default_name`. Precedence flag > env > file > default; an
 * empty flag value counts as given, an empty env or file value as unset.
 * A command from the file whose first word is a relative path containing `/` gets that word
 * made absolute against the file's folder (resolve_file_command()); see Config::working_dir.
 * Errors are ConfigInvalid; they name the env var and the flag, and the file for a value or
 * key from it.
 * On Managed Instances (AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances) the events
 * default to SHUTDOWN alone, and these are ConfigInvalid, with a message saying why [LMI][RIE]:
 * EXTENSION_RUNNER_EVENTS naming INVOKE, EXTENSION_RUNNER_TELEMETRY=logs, a telemetry schema
 * other than 2025-01-29, EXTENSION_RUNNER_FLUSH=invoke, a listen host the platform cannot reach.
 * EXTENSION_RUNNER_PROXY other than `off` without EXTENSION_RUNNER_COMMAND is ConfigInvalid
 * too: the hooks run in the child.
 */
Result<Config> load_config(const std::map<std::string, std::string>& flags, const EnvLookup& env,
                           const ConfigFileLookup& lookup = {});

/**
 * The one INFO line logged at init: how this process is configured, as `key=value` pairs
 * (platform mode, events, child command or "no child", dispatch, telemetry API / types / schema /
 * protocol / flush strategy, listener address, the API timeout). It holds no secret: the
 * environment is not read, and `NAME=value` assignments at the start of the child command are
 * shown as `NAME=***`.
 */
std::string describe_config(const Config& config);

}  // namespace extension_runner
