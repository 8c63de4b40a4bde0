#pragma once
/**
 * @file config.hpp
 * Every setting is an environment variable, a same-named flag and a key of the configuration
 * file (lambda/config_file.hpp); flag > env > file > default.
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

/** One row of the settings table: the CLI, the README and load_config all read it. */
struct SettingSpec {
  std::string env;            ///< Environment variable, e.g. `EXTENSION_RUNNER_NAME`.
  std::string flag;           ///< Long flag without dashes, e.g. `name`.
  std::string default_value;  ///< Used when neither flag, env nor file sets it ("" = unset).
  std::string help;           ///< One line for `--help` and the README table.
  SettingKind kind = {};      ///< What values it takes (default free TEXT; a test wants one).
  SettingType type = SettingType::FromDefault;  ///< JSON values the file may give it.
};

/** The JSON type a row takes in the configuration file, FromDefault resolved. */
SettingType setting_type(const SettingSpec& spec);

/** The settings table, in documentation order. */
const std::vector<SettingSpec>& settings();

/** How the host paces `/next` against the child (issue: runner protocol). */
enum class Dispatch { Sync, Async };
/**
 * When the child's startup handshake happens (EXTENSION_RUNNER_CHILD_START): Init = before the
 * first `/next`, so a failure is an init/error and the function's init waits for it [EXT];
 * Background = beside the first `/next`: the function's init does not wait, events queue
 * behind the handshake, and a failure is an exit/error at the first event.
 */
enum class ChildStart { Init, Background };
/** Which log subscription API to use, if any [TEL][LOGS]. */
enum class TelemetryMode { Off, Telemetry, Logs };
/**
 * When the host waits, before the next `/next`, for an invocation's telemetry (README
 * "Telemetry: flush strategies"): Invoke = for its platform.runtimeDone; Periodic = never (records
 * reach the child as batches arrive, or every flush_period_ms, and at SHUTDOWN); Adaptive =
 * Invoke while invocations are infrequent, Periodic while they are frequent
 * (telemetry/flush_strategy.hpp); None = never waits, and no periodic hold either.
 */
enum class FlushMode { Invoke, Periodic, Adaptive, None };
/** `invoke`, `periodic`, `adaptive` or `none`. */
const char* flush_mode_name(FlushMode mode);
/** How Lambda delivers telemetry to the listener [TEL]: HTTP POSTs, or JSON lines over TCP. */
enum class TelemetryProtocol { Http, Tcp };
/**
 * Where the extension runs: the standard Lambda platform, or Lambda Managed Instances (one
 * never-frozen environment serving several invocations at once; external extensions register
 * for SHUTDOWN only, telemetry needs schema 2025-01-29 [LMI][RIE]).
 */
enum class Platform { Lambda, ManagedInstances };

/** `AWS_LAMBDA_INITIALIZATION_TYPE` on Lambda Managed Instances [LMI][RIE]. */
inline constexpr const char* kManagedInstancesInitType = "lambda-managed-instances";
/** The Telemetry API schema: required on Managed Instances, backward compatible elsewhere [TEL]. */
inline constexpr const char* kTelemetrySchema = "2025-01-29";

/** `"lambda"` or `"managed-instances"`: the StartupRequest `platform` and log wording. */
const char* platform_name(Platform platform);

/** The validated configuration. */
struct Config {
  // Extensions API
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

  // Child runtime (runner protocol)
  std::string command;  ///< Shell command of the child runtime; "" = write events to stdout.
  std::string handler;  ///< Passed to the child in StartupRequest.handler.
  /**
   * The child's working directory: EXTENSION_RUNNER_WORKING_DIR (from the file: relative to
   * its folder), else the configuration file's folder when a file was read, else "" (inherit
   * the host's).
   */
  std::string working_dir;
  int64_t startup_timeout_ms = 5000;
  Dispatch dispatch = Dispatch::Sync;
  ChildStart child_start = ChildStart::Init;
  int max_crashes = 3;
  size_t max_message_bytes = 6 * 1024 * 1024;
  std::string memory_size;  ///< AWS_LAMBDA_FUNCTION_MEMORY_SIZE, reported in billing.memory.

  // Telemetry / Logs API
  TelemetryMode telemetry = TelemetryMode::Off;
  std::string telemetry_schema;  ///< "" = the mode's default (2025-01-29 / 2021-03-18).
  std::vector<std::string> telemetry_types{"platform", "function"};
  int buffer_max_items = 1000;
  int buffer_max_bytes = 262144;
  int buffer_timeout_ms = 25;
  std::string listen = "0.0.0.0:0";  ///< Listener bind host:port.
  FlushMode flush = FlushMode::Adaptive;
  /** `periodic,MS`: hold records and deliver them every MS; 0 = as they come. */
  int64_t flush_period_ms = 0;
  TelemetryProtocol telemetry_protocol = TelemetryProtocol::Http;
  size_t queue_max_records = 20000;
  size_t queue_max_bytes = 8 * 1024 * 1024;

  /** Whether INVOKE is registered (false: a shutdown-only extension, as on Managed Instances). */
  bool receives_invokes() const;
  /** The effective schema version for the chosen telemetry mode. */
  std::string effective_telemetry_schema() const;
  /**
   * Whether the flush strategy may wait at `/next` for platform.runtimeDone (Invoke or
   * Adaptive, telemetry on, `platform` subscribed and INVOKE registered; never on Managed
   * Instances, which send no INVOKE).
   */
  bool flush_may_wait() const;
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
