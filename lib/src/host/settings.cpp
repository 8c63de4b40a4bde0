#include "extension_runner/host/settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <type_traits>

#include "extension_runner/core/json.hpp"
#include "extension_runner/host/config_file.hpp"

namespace extension_runner {
namespace {

/** Where a setting's value came from. */
enum class Source { Unset, Flag, Env, File, Default };

class Loader {
 public:
  Loader(const std::map<std::string, std::string>& flags, const EnvLookup& env,
         const ConfigFile* file)
      : flags_(flags), env_(env), file_(file) {}

  /** The raw value of a setting, or nullopt when unset. */
  std::optional<std::string> raw(const SettingSpec& spec) const {
    if (auto it = flags_.find(spec.flag); it != flags_.end()) return it->second;
    if (auto v = env_(spec.env); v && !v->empty()) return v;
    if (file_ != nullptr) {
      if (auto it = file_->values.find(spec.env); it != file_->values.end()) return it->second;
    }
    if (!spec.default_value.empty()) return spec.default_value;
    return std::nullopt;
  }

  /** Which source raw() takes the value from. */
  Source source(const SettingSpec& spec) const {
    if (flags_.count(spec.flag) != 0) return Source::Flag;
    if (auto v = env_(spec.env); v && !v->empty()) return Source::Env;
    if (file_ != nullptr && file_->values.count(spec.env) != 0) return Source::File;
    return spec.default_value.empty() ? Source::Unset : Source::Default;
  }

 private:
  const std::map<std::string, std::string>& flags_;
  const EnvLookup& env_;
  const ConfigFile* file_;
};

const SettingSpec& spec_for(const std::string& env) {
  for (const auto& s : settings()) {
    if (s.env == env) return s;
  }
  std::abort();  // programming error: a setting used but not declared
}

Error invalid(const SettingSpec& spec, const std::string& value, const std::string& why) {
  return make_error(ErrorKind::ConfigInvalid,
                    "invalid " + spec.env + " (--" + spec.flag + ") '" + value + "': " + why);
}

Result<int64_t> parse_int(const SettingSpec& spec, const std::string& text, int64_t lo,
                          int64_t hi) {
  // Digits with an optional '-', nothing else: strtoll alone would skip blanks, take '+', and
  // stop at an embedded NUL, and the caller may keep the text itself (memory size, listen).
  const size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() == digits || text.find_first_not_of("0123456789", digits) != std::string::npos) {
    return invalid(spec, text, "not an integer");
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() || errno == ERANGE) {
    return invalid(spec, text, "not an integer");
  }
  if (v < lo || v > hi) {
    return invalid(spec, text,
                   "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return static_cast<int64_t>(v);
}

std::vector<std::string> split_csv(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

/** `a, b or c`: the choices as an error message lists them. */
std::string alternatives(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

// ---- Bindings: what a row's values are and where they go ----------------------------------
// A field is named by a generic lambda `[](auto& c) -> auto& { return c.runner.dispatch; }`, so
// one accessor serves both storing into a Config and reading a default out of one.

/** A row's kind, how it stores a value, and how it spells the field's default. */
struct Binding {
  SettingKind kind;
  SettingApply apply;
  std::function<std::string(const Config&)> show;  ///< Empty: the row has no default.
  SettingType type = SettingType::FromDefault;
};

template <typename Field>
Binding text(std::string label, Field field, SettingKind kind = {}) {
  Binding b;
  b.kind = kind.type == SettingKind::Type::Text ? kind::text(std::move(label)) : std::move(kind);
  b.apply = [field](const SettingSpec&, const std::string& value, Config& c) -> Result<void> {
    field(c) = value;
    return {};
  };
  b.show = [field](const Config& c) { return std::string(field(c)); };
  return b;
}

template <typename Field>
Binding command(Field field) {
  return text("COMMAND", field, kind::command());
}

template <typename Field>
Binding integer(int64_t min, int64_t max, Field field) {
  Binding b;
  b.kind = kind::integer(min, max);
  b.apply = [field](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    auto n = parse_int(spec, value, spec.kind.min, spec.kind.max);
    if (!n) return n.error();
    auto& target = field(c);
    target = static_cast<std::remove_reference_t<decltype(target)>>(*n);
    return {};
  };
  b.show = [field](const Config& c) { return std::to_string(field(c)); };
  return b;
}

/** An integer kept as the text it was given (the memory size reported as billing.memory). */
template <typename Field>
Binding integer_text(int64_t min, int64_t max, Field field) {
  Binding b;
  b.kind = kind::integer(min, max);
  b.apply = [field](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    auto n = parse_int(spec, value, spec.kind.min, spec.kind.max);
    if (!n) return n.error();
    field(c) = value;
    return {};
  };
  b.show = [field](const Config& c) { return std::string(field(c)); };
  b.type = SettingType::Integer;
  return b;
}

template <typename E, typename Field>
Binding choice(std::vector<std::pair<std::string, E>> values, Field field) {
  std::vector<std::string> names;
  names.reserve(values.size());
  for (const auto& v : values) names.push_back(v.first);
  Binding b;
  b.kind = kind::one_of(names);
  b.apply = [values, field](const SettingSpec& spec, const std::string& value,
                            Config& c) -> Result<void> {
    for (const auto& [name, e] : values) {
      if (name == value) {
        field(c) = e;
        return {};
      }
    }
    return invalid(spec, value, "expected " + alternatives(spec.kind.choices));
  };
  b.show = [values, field](const Config& c) {
    for (const auto& [name, e] : values) {
      if (e == field(c)) return name;
    }
    return std::string();
  };
  return b;
}

/** A comma-separated list of some of `choices`, at least one. */
template <typename Field>
Binding list_of(const std::string& what, std::vector<std::string> choices, Field field) {
  Binding b;
  b.kind = kind::list_of(std::move(choices));
  b.apply = [what, field](const SettingSpec& spec, const std::string& value,
                          Config& c) -> Result<void> {
    auto items = split_csv(value);
    if (items.empty()) return invalid(spec, value, what + "s should not be empty");
    for (const auto& item : items) {
      const auto& known = spec.kind.choices;
      if (std::find(known.begin(), known.end(), item) == known.end()) {
        return invalid(
            spec, value,
            "unknown " + what + " '" + item + "' (expected " + joined(known, ", ") + ")");
      }
    }
    field(c) = items;
    return {};
  };
  b.show = [field](const Config& c) { return joined(field(c), ","); };
  return b;
}

/** `host:port`; the port Lambda's own Runtime API uses is refused. */
template <typename Field>
Binding host_port(Field field) {
  Binding b = text("HOST:PORT", field, kind::host_port());
  b.apply = [field](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0) return invalid(spec, value, "expected host:port");
    auto port = parse_int(spec, value.substr(colon + 1), 0, 65535);
    if (!port) return port.error();
    if (*port == 9001) return invalid(spec, value, "port 9001 is reserved by Lambda");
    field(c) = value;
    return {};
  };
  return b;
}

// EXTENSION_RUNNER_EVENTS: INVOKE,SHUTDOWN (either order) or SHUTDOWN. SHUTDOWN is required:
// on it the host ends the child within the deadline, and without it Lambda SIGKILLs [EXT].
// No default in the table: it depends on the platform (load_settings()).
Binding events() {
  Binding b;
  b.kind = kind::one_of({"INVOKE,SHUTDOWN", "SHUTDOWN"});
  b.apply = [](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    const auto items = split_csv(value);
    const auto count = [&](const char* e) {
      return static_cast<size_t>(std::count(items.begin(), items.end(), e));
    };
    const size_t invoke = count("INVOKE"), shutdown = count("SHUTDOWN");
    if (invoke + shutdown != items.size() || invoke > 1 || shutdown != 1) {
      return invalid(spec, value, "expected " + alternatives(spec.kind.choices));
    }
    c.events = invoke == 1 ? std::vector<std::string>{"INVOKE", "SHUTDOWN"}
                           : std::vector<std::string>{"SHUTDOWN"};
    return {};
  };
  return b;
}

// `periodic,MS` holds records for MS between deliveries (telemetry/options.hpp).
Binding flush() {
  Binding b = choice<FlushMode>(
      {{"invoke", FlushMode::Invoke},
       {"periodic[,MS]", FlushMode::Periodic},
       {"adaptive", FlushMode::Adaptive}},
      [](auto& c) -> auto& { return c.telemetry.flush; });
  b.apply = [](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    for (const auto mode : {FlushMode::Invoke, FlushMode::Periodic, FlushMode::Adaptive}) {
      if (value == flush_mode_name(mode)) {
        c.telemetry.flush = mode;
        return {};
      }
    }
    if (value == "none") {
      return invalid(spec, value, "none was periodic under another name and is gone: use periodic");
    }
    if (value.rfind("periodic,", 0) == 0) {
      auto ms = parse_int(spec, value.substr(9), 1, 900000);
      if (!ms) return invalid(spec, value, "expected periodic,MS with MS between 1 and 900000");
      c.telemetry.flush = FlushMode::Periodic;
      c.telemetry.flush_period_ms = *ms;
      return {};
    }
    return invalid(spec, value, "expected " + alternatives(spec.kind.choices));
  };
  b.show = [](const Config& c) { return std::string(flush_mode_name(c.telemetry.flush)); };
  return b;
}

Binding log_level_setting() {
  Binding b;
  b.kind = kind::one_of({"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"});
  b.apply = [](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    auto level = parse_log_level(value);
    if (!level) return invalid(spec, value, "expected " + alternatives(spec.kind.choices));
    c.log_level = *level;
    return {};
  };
  b.show = [](const Config& c) { return std::string(log_level_name(c.log_level)); };
  return b;
}

Binding log_format_setting() {
  Binding b;
  b.kind = kind::one_of({"Text", "JSON"});
  b.apply = [](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    auto format = parse_log_format(value);
    if (!format) return invalid(spec, value, "expected " + alternatives(spec.kind.choices));
    c.log_format = *format;
    return {};
  };
  b.show = [](const Config& c) {
    return std::string(c.log_format == LogFormat::JSON ? "JSON" : "Text");
  };
  return b;
}

Binding extension_name() {
  Binding b = text(
      "NAME", [](auto& c) -> auto& { return c.name; });
  b.apply = [](const SettingSpec& spec, const std::string& value, Config& c) -> Result<void> {
    if (value.find('/') != std::string::npos) {
      return invalid(spec, value, "must be a file name, not a path");
    }
    c.name = value;
    return {};
  };
  return b;
}

Binding initialization_type() {
  Binding b;
  b.kind = kind::text("INITIALIZATION-TYPE");
  b.apply = [](const SettingSpec&, const std::string& value, Config& c) -> Result<void> {
    c.platform = platform_from_initialization_type(value);
    return {};
  };
  return b;
}

/** A row whose value is read elsewhere (EXTENSION_RUNNER_CONFIG: find_config_file()). */
Binding read_elsewhere(std::string label) {
  Binding b;
  b.kind = kind::text(std::move(label));
  b.apply = [](const SettingSpec&, const std::string&, Config&) -> Result<void> { return {}; };
  return b;
}

SettingSpec row(std::string env, std::string flag, std::string help, Binding binding) {
  static const Config kDefaults;
  SettingSpec spec;
  spec.env = std::move(env);
  spec.flag = std::move(flag);
  spec.default_value = binding.show ? binding.show(kDefaults) : std::string();
  spec.help = std::move(help);
  spec.kind = std::move(binding.kind);
  spec.type = binding.type;
  spec.apply = std::move(binding.apply);
  return spec;
}

// ---- Checks across settings, after every row is stored ---------------------------------------

// What the platform would refuse, or what cannot happen without INVOKE events, caught before
// anything is sent: a clear ConfigInvalid instead of a 403/400 from the API [LMI][RIE].
template <typename Get>
Result<void> check_mode(const Config& c, const Get& get) {
  const bool lmi = c.platform == Platform::ManagedInstances;
  const std::string on_lmi =
      std::string("on Lambda Managed Instances (AWS_LAMBDA_INITIALIZATION_TYPE=") +
      kManagedInstancesInitType + ") ";
  if (lmi && c.receives_invokes()) {
    const auto& spec = spec_for("EXTENSION_RUNNER_EVENTS");
    return invalid(spec, get("EXTENSION_RUNNER_EVENTS").value_or(""),
                   on_lmi +
                       "external extensions may register for SHUTDOWN only (Register answers "
                       "403 Extension.InvalidEventType) and /next never returns INVOKE: use "
                       "SHUTDOWN or leave it unset");
  }
  if (lmi && c.telemetry.mode == TelemetryMode::Logs) {
    return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY"), "logs",
                   on_lmi + "there is no Logs API (it answers 404): use telemetry");
  }
  if (lmi && c.telemetry.mode == TelemetryMode::Telemetry && !c.telemetry.schema.empty() &&
      c.telemetry.schema != kTelemetrySchema) {
    return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_SCHEMA"), c.telemetry.schema,
                   on_lmi + "the Telemetry API accepts schema " + kTelemetrySchema +
                       " only (others are answered 400)");
  }
  if (c.telemetry.flush == FlushMode::Invoke && !c.receives_invokes()) {
    return invalid(spec_for("EXTENSION_RUNNER_FLUSH"), "invoke",
                   (lmi ? on_lmi : std::string("with EXTENSION_RUNNER_EVENTS=SHUTDOWN ")) +
                       "there are no INVOKE events to flush at; telemetry is delivered as it "
                       "arrives (use adaptive, periodic or none)");
  }
  if (lmi && c.telemetry.mode != TelemetryMode::Off) {
    const std::string host = c.telemetry.listen.substr(0, c.telemetry.listen.rfind(':'));
    static const char* const kReachable[] = {"0.0.0.0", "127.0.0.1", "localhost", "sandbox",
                                             "sandbox.localdomain"};
    if (std::find(std::begin(kReachable), std::end(kReachable), host) == std::end(kReachable)) {
      return invalid(spec_for("EXTENSION_RUNNER_LISTEN"), c.telemetry.listen,
                     on_lmi +
                         "the platform delivers telemetry to 127.0.0.1 only: bind 0.0.0.0 "
                         "or 127.0.0.1");
    }
  }
  return {};
}

// The proxy's hooks are the child's handlers: a proxy without a child could only pass traffic
// through, at a cost and with no purpose, so it is refused rather than silently idle.
Result<void> check_proxy(const Config& c, const std::optional<std::string>& given) {
  if (c.proxy.mode == ProxyMode::Off || !c.runner.command.empty()) return {};
  return invalid(spec_for("EXTENSION_RUNNER_PROXY"), given.value_or(""),
                 "the proxy's hooks run in the child: set EXTENSION_RUNNER_COMMAND");
}

// The TCP destination exists only in the Telemetry API, schema 2025-01-29 [TEL].
Result<void> check_protocol(const Config& c, const std::optional<std::string>& given) {
  if (!given || c.telemetry.protocol != TelemetryProtocol::Tcp) return {};
  const auto& spec = spec_for("EXTENSION_RUNNER_TELEMETRY_PROTOCOL");
  if (c.telemetry.mode == TelemetryMode::Logs) {
    return invalid(spec, *given, "tcp needs EXTENSION_RUNNER_TELEMETRY=telemetry");
  }
  if (!c.telemetry.schema.empty() && c.telemetry.schema != kTelemetrySchema) {
    return invalid(
        spec, *given,
        "tcp needs schema " + std::string(kTelemetrySchema) + ", not " + c.telemetry.schema);
  }
  return {};
}

}  // namespace

namespace kind {

SettingKind integer(int64_t min, int64_t max) {
  SettingKind k;
  k.type = SettingKind::Type::Integer;
  k.label = "INT";
  k.min = min;
  k.max = max;
  return k;
}

SettingKind one_of(std::vector<std::string> choices) {
  SettingKind k;
  k.type = SettingKind::Type::OneOf;
  k.label = "CHOICE";
  k.choices = std::move(choices);
  return k;
}

SettingKind list_of(std::vector<std::string> choices) {
  SettingKind k;
  k.type = SettingKind::Type::List;
  k.label = "LIST";
  k.choices = std::move(choices);
  return k;
}

SettingKind host_port() {
  SettingKind k;
  k.type = SettingKind::Type::HostPort;
  k.label = "HOST:PORT";
  return k;
}

SettingKind command() {
  SettingKind k;
  k.type = SettingKind::Type::Command;
  k.label = "COMMAND";
  return k;
}

SettingKind text(std::string label) {
  SettingKind k;
  k.label = std::move(label);
  return k;
}

}  // namespace kind

std::string SettingKind::help_type() const {
  switch (type) {
    case Type::Integer:
      return "INT " + std::to_string(min) + "-" + std::to_string(max);
    case Type::OneOf:
      return joined(choices, "|");
    case Type::List:
      return "LIST of " + joined(choices, ",");
    case Type::Text:
    case Type::HostPort:
    case Type::Command:
      break;
  }
  return label;
}

std::string SettingKind::readme_text() const {
  switch (type) {
    case Type::Integer:
      return "integer " + std::to_string(min) + "-" + std::to_string(max);
    case Type::OneOf:
      return "one of: " + joined(choices, ", ");
    case Type::List:
      return "comma-separated: " + joined(choices, ", ");
    case Type::HostPort:
      return "host:port";
    case Type::Command:
      return "shell command";
    case Type::Text:
      break;
  }
  return "text (" + label + ")";
}

namespace {

// The table from its rows, each moved in: a braced list would copy every row (its strings,
// choices and binder) once more, at start-up.
template <typename... Rows>
std::vector<SettingSpec> table_of(Rows&&... rows) {
  std::vector<SettingSpec> table;
  table.reserve(sizeof...(rows));
  (table.push_back(std::forward<Rows>(rows)), ...);
  return table;
}

}  // namespace

const std::vector<SettingSpec>& settings() {
  // One row per setting: its name, flag, help and what it binds to (its kind, bounds and the
  // field its value goes to; the field's default is the row's default).
  static const std::vector<SettingSpec> kTable = table_of(
      row("AWS_LAMBDA_RUNTIME_API", "runtime-api",
          "host:port of the Lambda Runtime API (set by Lambda)",
          text(
              "HOST:PORT", [](auto& c) -> auto& { return c.runtime_api; }, kind::host_port())),
      row("EXTENSION_RUNNER_NAME", "name",
          "Lambda-Extension-Name; must equal the file name in /opt/extensions (default: "
          "basename of argv[0])",
          extension_name()),
      row("EXTENSION_RUNNER_API_TIMEOUT_MS", "api-timeout-ms",
          "total limit in ms of register, subscribe, init/error and exit/error (never "
          "event/next)",
          integer(
              100, 9000, [](auto& c) -> auto& { return c.api_timeout_ms; })),
      row("EXTENSION_RUNNER_CONFIG", "config",
          "configuration file (default: /opt/<name>/extension-runner.json when it exists)",
          read_elsewhere("PATH")),
      row("EXTENSION_RUNNER_EVENTS", "events",
          "events to register: INVOKE,SHUTDOWN (default on Lambda) or SHUTDOWN (shutdown-only; "
          "the default and only choice on Managed Instances)",
          events()),
      row("AWS_LAMBDA_INITIALIZATION_TYPE", "initialization-type",
          "set by Lambda; lambda-managed-instances selects the Managed-Instances mode (SHUTDOWN "
          "only, telemetry schema 2025-01-29, continuous delivery)",
          initialization_type()),
      row("AWS_LAMBDA_LOG_LEVEL", "log-level", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
          log_level_setting()),
      row("AWS_LAMBDA_LOG_FORMAT", "log-format", "Text or JSON (one JSON object per line)",
          log_format_setting()),
      row("EXTENSION_RUNNER_COMMAND", "command",
          "child runtime command, run with /bin/sh -c (unset: events are printed as JSON lines)",
          command([](auto& c) -> auto& { return c.runner.command; })),
      row("EXTENSION_RUNNER_WORKING_DIR", "working-dir",
          "the child's working directory (default: the configuration file's folder, else the "
          "host's)",
          text(
              "DIRECTORY", [](auto& c) -> auto& { return c.runner.working_dir; })),
      row("EXTENSION_RUNNER_HANDLER", "handler", "handler string sent to the child at startup",
          text(
              "HANDLER", [](auto& c) -> auto& { return c.runner.handler; })),
      row("EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "startup-timeout-ms",
          "how long the child may take to answer the startup handshake (100-9000)",
          integer(
              100, 9000, [](auto& c) -> auto& { return c.runner.startup_timeout_ms; })),
      row("EXTENSION_RUNNER_DISPATCH", "dispatch",
          "sync: next event only after the child replied; async: requests queue",
          choice<Dispatch>(
              {{"sync", Dispatch::Sync}, {"async", Dispatch::Async}},
              [](auto& c) -> auto& { return c.runner.dispatch; })),
      row("EXTENSION_RUNNER_CHILD_START", "child-start",
          "init: the child's handshake completes before the first /next (a failure is "
          "init/error); background: /next at once, the child starts beside it, events wait for "
          "its handshake (a failure is exit/error Extension.ChildStartupFailed at the first "
          "event)",
          choice<ChildStart>(
              {{"init", ChildStart::Init}, {"background", ChildStart::Background}},
              [](auto& c) -> auto& { return c.runner.child_start; })),
      row("EXTENSION_RUNNER_MAX_CRASHES", "max-crashes",
          "child crashes in a row before exit/error Extension.ChildCrashed",
          integer(
              1, 1000, [](auto& c) -> auto& { return c.runner.max_crashes; })),
      row("EXTENSION_RUNNER_ON_FAILURE", "on-failure",
          "what a failure of the child, a listener (telemetry, messages, proxy) or the "
          "subscription does: "
          "continue (logged once at ERROR and counted; the function is never affected) or "
          "report (init/error fails the function's init, exit/error resets its environment)",
          choice<FailurePolicy>(
              {{"continue", FailurePolicy::Continue}, {"report", FailurePolicy::Report}},
              [](auto& c) -> auto& { return c.on_failure; })),
      row("EXTENSION_RUNNER_MAX_MESSAGE_BYTES", "max-message-bytes",
          "largest protocol line accepted from the child",
          integer(
              1024, int64_t{1} << 30, [](auto& c) -> auto& { return c.runner.max_message_bytes; })),
      row("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "memory-size",
          "function memory in MB, reported as billing.memory",
          integer_text(
              1, 1 << 20, [](auto& c) -> auto& { return c.runner.memory_size; })),
      row("EXTENSION_RUNNER_TELEMETRY", "telemetry",
          "off, telemetry (Telemetry API 2022-07-01) or logs (Logs API 2020-08-15)",
          choice<TelemetryMode>(
              {{"off", TelemetryMode::Off},
               {"telemetry", TelemetryMode::Telemetry},
               {"logs", TelemetryMode::Logs}},
              [](auto& c) -> auto& { return c.telemetry.mode; })),
      row("EXTENSION_RUNNER_TELEMETRY_SCHEMA", "telemetry-schema",
          "schemaVersion (default 2025-01-29 for telemetry, 2021-03-18 for logs)",
          text(
              "SCHEMA-VERSION", [](auto& c) -> auto& { return c.telemetry.schema; })),
      row("EXTENSION_RUNNER_TELEMETRY_TYPES", "telemetry-types",
          "comma-separated: platform, function, extension",
          list_of(
              "type", {"platform", "function", "extension"},
              [](auto& c) -> auto& { return c.telemetry.types; })),
      row("EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "buffer-max-items",
          "subscription buffering.maxItems (1000-10000)",
          integer(
              kMinBufferItems, kMaxBufferItems,
              [](auto& c) -> auto& { return c.telemetry.buffer_max_items; })),
      row("EXTENSION_RUNNER_BUFFER_MAX_BYTES", "buffer-max-bytes",
          "subscription buffering.maxBytes (262144-1048576)",
          integer(
              kMinBufferBytes, kMaxBufferBytes,
              [](auto& c) -> auto& { return c.telemetry.buffer_max_bytes; })),
      row("EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "buffer-timeout-ms",
          "subscription buffering.timeoutMs (25-30000): how long Lambda holds a batch",
          integer(
              kMinBufferTimeoutMs, kMaxBufferTimeoutMs,
              [](auto& c) -> auto& { return c.telemetry.buffer_timeout_ms; })),
      row("EXTENSION_RUNNER_LISTEN", "listen",
          "telemetry listener bind host:port (port 0 = ephemeral)",
          host_port([](auto& c) -> auto& { return c.telemetry.listen; })),
      row("EXTENSION_RUNNER_FLUSH", "flush",
          "invoke: wait (bounded) for the invocation's platform.runtimeDone before the next "
          "event; periodic[,MS]: never wait, deliver as batches arrive (or every MS) and at "
          "SHUTDOWN; adaptive: invoke while invocations are infrequent, periodic while frequent",
          flush()),
      row("EXTENSION_RUNNER_TELEMETRY_PROTOCOL", "telemetry-protocol",
          "http (Lambda POSTs batches) or tcp (JSON lines; schema 2025-01-29)",
          choice<TelemetryProtocol>(
              {{"http", TelemetryProtocol::Http}, {"tcp", TelemetryProtocol::Tcp}},
              [](auto& c) -> auto& { return c.telemetry.protocol; })),
      row("EXTENSION_RUNNER_QUEUE_MAX_RECORDS", "queue-max-records",
          "telemetry records held for the child before the listener pushes back",
          integer(
              1, 10000000, [](auto& c) -> auto& { return c.telemetry.queue_max_records; })),
      row("EXTENSION_RUNNER_QUEUE_MAX_BYTES", "queue-max-bytes",
          "memory (bytes) telemetry records may hold before the listener pushes back",
          integer(
              65536, int64_t{1} << 32,
              [](auto& c) -> auto& { return c.telemetry.queue_max_bytes; })),
      row("EXTENSION_RUNNER_PROXY", "proxy",
          "Runtime API proxy: off; observe (copies of events and responses go to the child's "
          "hooks); intercept (the hooks may replace, answer or reject before forwarding); the "
          "function must use the exec wrapper (docs/proxy.md)",
          choice<ProxyMode>(
              {{"off", ProxyMode::Off},
               {"observe", ProxyMode::Observe},
               {"intercept", ProxyMode::Intercept}},
              [](auto& c) -> auto& { return c.proxy.mode; })),
      row("EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "proxy-hook-timeout-ms",
          "a proxy hook's budget in ms per call (also bounded by the invocation's deadline)",
          integer(
              kMinHookTimeoutMs, kMaxHookTimeoutMs,
              [](auto& c) -> auto& { return c.proxy.hook_timeout_ms; })),
      row("EXTENSION_RUNNER_PROXY_FAIL", "proxy-fail",
          "what a failed hook (timeout, crash, malformed answer) does: open forwards the "
          "original unchanged, closed fails the invocation (Extension.ProxyHookFailed)",
          choice<FailPolicy>(
              {{"open", FailPolicy::Open}, {"closed", FailPolicy::Closed}},
              [](auto& c) -> auto& { return c.proxy.fail; })),
      row("EXTENSION_RUNNER_PROXY_NEXT_WRAPPER", "proxy-next-wrapper",
          "another exec wrapper `wrap` runs the runtime through (the function's former "
          "AWS_LAMBDA_EXEC_WRAPPER)",
          text(
              "PATH", [](auto& c) -> auto& { return c.proxy.next_wrapper; })),
      row("EXTENSION_RUNNER_MESSAGES", "messages",
          "on: the function may POST messages for the child to "
          "http://LISTEN/v1/messages (docs/messages.md)",
          choice<bool>(
              {{"off", false}, {"on", true}}, [](auto& c) -> auto& { return c.messages.enabled; })),
      row("EXTENSION_RUNNER_MESSAGES_LISTEN", "messages-listen",
          "messages endpoint bind host:port (loopback; port 0 = ephemeral)",
          host_port([](auto& c) -> auto& { return c.messages.listen; })));
  return kTable;
}

SettingType setting_type(const SettingSpec& spec) {
  if (spec.type != SettingType::FromDefault) return spec.type;
  const auto& d = spec.default_value;
  const size_t sign = !d.empty() && d[0] == '-' ? 1 : 0;
  if (d.size() > sign && d.find_first_not_of("0123456789", sign) == std::string::npos) {
    return SettingType::Integer;
  }
  if (d == "true" || d == "false") return SettingType::Boolean;
  return SettingType::Text;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

bool Config::receives_invokes() const {
  return std::find(events.begin(), events.end(), "INVOKE") != events.end();
}

namespace {

// Every row applied in table order, then the checks across rows; the first error is reported.
Result<Config> load_settings(const Loader& loader) {
  // No real environment or argv holds a NUL, but a value that did would mean one thing here and
  // another to every C API it reaches (bind, exec): refuse it for every setting at once.
  for (const auto& spec : settings()) {
    if (auto v = loader.raw(spec); v && v->find('\0') != std::string::npos) {
      return invalid(spec, *v, "contains a NUL byte");
    }
  }
  Config c;
  for (const auto& spec : settings()) {
    if (auto value = loader.raw(spec)) {
      if (auto applied = spec.apply(spec, *value, c); !applied) return applied.error();
    }
  }
  auto get = [&](const char* env_name) { return loader.raw(spec_for(env_name)); };
  if (!get("EXTENSION_RUNNER_EVENTS") && c.platform == Platform::ManagedInstances) {
    c.events = {"SHUTDOWN"};
  }
  if (auto protocol = check_protocol(c, get("EXTENSION_RUNNER_TELEMETRY_PROTOCOL")); !protocol) {
    return protocol.error();
  }
  if (auto mode = check_mode(c, get); !mode) return mode.error();
  if (auto proxy = check_proxy(c, get("EXTENSION_RUNNER_PROXY")); !proxy) return proxy.error();
  return c;
}

// The configuration file to read, if any: EXTENSION_RUNNER_CONFIG (must exist), else the
// layer's default file for the extension's name (may be absent).
Result<std::optional<ConfigFile>> find_config_file(const Loader& loader,
                                                   const ConfigFileLookup& lookup) {
  if (auto path = loader.raw(spec_for("EXTENSION_RUNNER_CONFIG"))) {
    if (path->find('\0') != std::string::npos) {
      return invalid(spec_for("EXTENSION_RUNNER_CONFIG"), *path, "contains a NUL byte");
    }
    return read_config_file(*path, true, settings());
  }
  if (lookup.layer_root.empty()) return std::optional<ConfigFile>();
  const std::string name =
      loader.raw(spec_for("EXTENSION_RUNNER_NAME")).value_or(lookup.default_name);
  // A name that is not a file name is refused by load_settings; there is no file to look for.
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
    return std::optional<ConfigFile>();
  }
  return read_config_file(lookup.layer_root + "/" + name + "/" + kConfigFileName, false,
                          settings());
}

// Every setting error comes from invalid(), whose message starts "invalid <ENV> (": the setting
// it names is the one whose value was refused.
Error attribute_to_file(const Error& error, const Loader& loader, const ConfigFile& file) {
  for (const auto& spec : settings()) {
    if (error.message.rfind("invalid " + spec.env + " (", 0) == 0 &&
        loader.source(spec) == Source::File) {
      return make_error(error.kind, file.path + ": " + error.message);
    }
  }
  return error;
}

}  // namespace

Result<Config> load_config(const std::map<std::string, std::string>& flags, const EnvLookup& env,
                           const ConfigFileLookup& lookup) {
  auto file = find_config_file(Loader(flags, env, nullptr), lookup);
  if (!file) return file.error();
  const ConfigFile* read = file->has_value() ? &**file : nullptr;
  Loader loader(flags, env, read);
  auto config = load_settings(loader);
  if (!config) return read != nullptr ? attribute_to_file(config.error(), loader, *read) : config;
  if (read == nullptr) return config;
  config->config_file = read->path;
  const SettingSpec& working_dir = spec_for("EXTENSION_RUNNER_WORKING_DIR");
  if (config->runner.working_dir.empty()) {
    config->runner.working_dir = read->folder;
  } else if (config->runner.working_dir[0] != '/' && loader.source(working_dir) == Source::File) {
    config->runner.working_dir = read->folder + "/" + config->runner.working_dir;
  }
  if (loader.source(spec_for("EXTENSION_RUNNER_COMMAND")) == Source::File) {
    config->runner.command = resolve_file_command(config->runner.command, read->folder);
  }
  return config;
}

}  // namespace extension_runner
