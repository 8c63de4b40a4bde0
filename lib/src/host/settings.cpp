#include "extension_runner/host/settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "extension_runner/core/json.hpp"
#include "extension_runner/host/config_file.hpp"

namespace extension_runner {
namespace {

// Documented bounds [LOGS][TEL]: maxItems 1,000–10,000; maxBytes 262,144–1,048,576;
// timeoutMs 25–30,000.
constexpr int64_t kMinItems = kMinBufferItems, kMaxItems = kMaxBufferItems;
constexpr int64_t kMinBytes = kMinBufferBytes, kMaxBytes = kMaxBufferBytes;
constexpr int64_t kMinTimeoutMs = kMinBufferTimeoutMs, kMaxTimeoutMs = kMaxBufferTimeoutMs;

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

// EXTENSION_RUNNER_EVENTS: INVOKE,SHUTDOWN (either order) or SHUTDOWN. SHUTDOWN is required:
// on it the host ends the child within the deadline, and without it Lambda SIGKILLs [EXT].
Result<std::vector<std::string>> parse_events(const SettingSpec& spec, const std::string& text) {
  const auto items = split_csv(text);
  const auto count = [&](const char* e) { return std::count(items.begin(), items.end(), e); };
  const size_t invoke = static_cast<size_t>(count("INVOKE"));
  const size_t shutdown = static_cast<size_t>(count("SHUTDOWN"));
  if (invoke + shutdown != items.size() || invoke > 1 || shutdown != 1) {
    return invalid(spec, text, "expected INVOKE,SHUTDOWN or SHUTDOWN");
  }
  if (invoke == 1) return std::vector<std::string>{"INVOKE", "SHUTDOWN"};
  return std::vector<std::string>{"SHUTDOWN"};
}

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

namespace {
std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}
}  // namespace

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

const std::vector<SettingSpec>& settings() {
  // The last field of a row is its kind (kind::integer, kind::one_of, kind::list_of,
  // kind::host_port, kind::command, kind::text): --help and the README show it.
  static const std::vector<SettingSpec> kTable = {
      {"AWS_LAMBDA_RUNTIME_API", "runtime-api", "",
       "host:port of the Lambda Runtime API (set by Lambda)", kind::host_port()},
      {"EXTENSION_RUNNER_NAME", "name", "",
       "Lambda-Extension-Name; must equal the file name in /opt/extensions (default: basename of "
       "argv[0])",
       kind::text("NAME")},
      {"EXTENSION_RUNNER_API_TIMEOUT_MS", "api-timeout-ms", "2000",
       "total limit in ms of register, subscribe, init/error and exit/error (never event/next)",
       kind::integer(100, 9000)},
      {"EXTENSION_RUNNER_CONFIG", "config", "",
       "configuration file (default: /opt/<name>/extension-runner.json when it exists)",
       kind::text("PATH")},
      // Lambda Managed Instances (issue 10): events registered, and the platform detection.
      {"EXTENSION_RUNNER_EVENTS", "events", "",
       "events to register: INVOKE,SHUTDOWN (default on Lambda) or SHUTDOWN (shutdown-only; the "
       "default and only choice on Managed Instances)",
       kind::one_of({"INVOKE,SHUTDOWN", "SHUTDOWN"})},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", "initialization-type", "",
       "set by Lambda; lambda-managed-instances selects the Managed-Instances mode (SHUTDOWN "
       "only, telemetry schema 2025-01-29, continuous delivery)",
       kind::text("INITIALIZATION-TYPE")},
      {"AWS_LAMBDA_LOG_LEVEL", "log-level", "INFO", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
       kind::one_of({"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"})},
      {"AWS_LAMBDA_LOG_FORMAT", "log-format", "Text", "Text or JSON (one JSON object per line)",
       kind::one_of({"Text", "JSON"})},
      {"EXTENSION_RUNNER_COMMAND", "command", "",
       "child runtime command, run with /bin/sh -c (unset: events are printed as JSON lines)",
       kind::command()},
      {"EXTENSION_RUNNER_WORKING_DIR", "working-dir", "",
       "the child's working directory (default: the configuration file's folder, else the "
       "host's)",
       kind::text("DIRECTORY")},
      {"EXTENSION_RUNNER_HANDLER", "handler", "", "handler string sent to the child at startup",
       kind::text("HANDLER")},
      {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "startup-timeout-ms", "5000",
       "how long the child may take to answer the startup handshake (100-9000)",
       kind::integer(100, 9000)},
      {"EXTENSION_RUNNER_DISPATCH", "dispatch", "sync",
       "sync: next event only after the child replied; async: requests queue",
       kind::one_of({"sync", "async"})},
      // Child start (issue 13).
      {"EXTENSION_RUNNER_CHILD_START", "child-start", "init",
       "init: the child's handshake completes before the first /next (a failure is init/error); "
       "background: /next at once, the child starts beside it, events wait for its handshake (a "
       "failure is exit/error Extension.ChildStartupFailed at the first event)",
       kind::one_of({"init", "background"})},
      {"EXTENSION_RUNNER_MAX_CRASHES", "max-crashes", "3",
       "child crashes in a row before exit/error Extension.ChildCrashed", kind::integer(1, 1000)},
      {"EXTENSION_RUNNER_MAX_MESSAGE_BYTES", "max-message-bytes", "6291456",
       "largest protocol line accepted from the child", kind::integer(1024, int64_t{1} << 30)},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "memory-size", "",
       "function memory in MB, reported as billing.memory", kind::integer(1, 1 << 20),
       SettingType::Integer},
      {"EXTENSION_RUNNER_TELEMETRY", "telemetry", "off",
       "off, telemetry (Telemetry API 2022-07-01) or logs (Logs API 2020-08-15)",
       kind::one_of({"off", "telemetry", "logs"})},
      {"EXTENSION_RUNNER_TELEMETRY_SCHEMA", "telemetry-schema", "",
       "schemaVersion (default 2025-01-29 for telemetry, 2021-03-18 for logs)",
       kind::text("SCHEMA-VERSION")},
      {"EXTENSION_RUNNER_TELEMETRY_TYPES", "telemetry-types", "platform,function",
       "comma-separated: platform, function, extension",
       kind::list_of({"platform", "function", "extension"})},
      {"EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "buffer-max-items", "1000",
       "subscription buffering.maxItems (1000-10000)", kind::integer(kMinItems, kMaxItems)},
      {"EXTENSION_RUNNER_BUFFER_MAX_BYTES", "buffer-max-bytes", "262144",
       "subscription buffering.maxBytes (262144-1048576)", kind::integer(kMinBytes, kMaxBytes)},
      {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "buffer-timeout-ms", "25",
       "subscription buffering.timeoutMs (25-30000): how long Lambda holds a batch",
       kind::integer(kMinTimeoutMs, kMaxTimeoutMs)},
      {"EXTENSION_RUNNER_LISTEN", "listen", "0.0.0.0:0",
       "telemetry listener bind host:port (port 0 = ephemeral)", kind::host_port()},
      {"EXTENSION_RUNNER_FLUSH", "flush", "adaptive",
       "invoke: wait (bounded) for the invocation's platform.runtimeDone before the next event; "
       "periodic[,MS]: never wait, deliver as batches arrive (or every MS) and at SHUTDOWN; "
       "adaptive: invoke while invocations are infrequent, periodic while frequent; none",
       kind::one_of({"invoke", "periodic[,MS]", "adaptive", "none"})},
      {"EXTENSION_RUNNER_TELEMETRY_PROTOCOL", "telemetry-protocol", "http",
       "http (Lambda POSTs batches) or tcp (JSON lines; schema 2025-01-29)",
       kind::one_of({"http", "tcp"})},
      {"EXTENSION_RUNNER_QUEUE_MAX_RECORDS", "queue-max-records", "20000",
       "telemetry records held for the child before the listener pushes back",
       kind::integer(1, 10000000)},
      {"EXTENSION_RUNNER_QUEUE_MAX_BYTES", "queue-max-bytes", "8388608",
       "memory (bytes) telemetry records may hold before the listener pushes back",
       kind::integer(65536, int64_t{1} << 32)},
  };
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

// Every setting read by one Loader; the first invalid one is reported.
Result<Config> load_settings(const Loader& loader) {
  // No real environment or argv holds a NUL, but a value that did would mean one thing here and
  // another to every C API it reaches (bind, exec): refuse it for every setting at once.
  for (const auto& spec : settings()) {
    if (auto v = loader.raw(spec); v && v->find('\0') != std::string::npos) {
      return invalid(spec, *v, "contains a NUL byte");
    }
  }
  Config c;
  // Each step reads one setting; the first invalid one is reported.
  auto get = [&](const char* env_name) { return loader.raw(spec_for(env_name)); };
  auto get_int = [&](const char* env_name, int64_t lo, int64_t hi,
                     int64_t fallback) -> Result<int64_t> {
    auto v = get(env_name);
    if (!v) return fallback;
    return parse_int(spec_for(env_name), *v, lo, hi);
  };

  c.runtime_api = get("AWS_LAMBDA_RUNTIME_API").value_or("");
  c.name = get("EXTENSION_RUNNER_NAME").value_or("");
  if (c.name.find('/') != std::string::npos) {
    return invalid(spec_for("EXTENSION_RUNNER_NAME"), c.name, "must be a file name, not a path");
  }
  auto api_timeout = get_int("EXTENSION_RUNNER_API_TIMEOUT_MS", 100, 9000, c.api_timeout_ms);
  if (!api_timeout) return api_timeout.error();
  c.api_timeout_ms = *api_timeout;
  if (auto v = get("AWS_LAMBDA_LOG_LEVEL")) {
    auto level = parse_log_level(*v);
    if (!level) {
      return invalid(spec_for("AWS_LAMBDA_LOG_LEVEL"), *v,
                     "expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL");
    }
    c.log_level = *level;
  }
  if (auto v = get("AWS_LAMBDA_LOG_FORMAT")) {
    auto format = parse_log_format(*v);
    if (!format) return invalid(spec_for("AWS_LAMBDA_LOG_FORMAT"), *v, "expected Text or JSON");
    c.log_format = *format;
  }
  if (auto v = get("AWS_LAMBDA_INITIALIZATION_TYPE"); v && *v == kManagedInstancesInitType) {
    c.platform = Platform::ManagedInstances;
  }
  const auto events_value = get("EXTENSION_RUNNER_EVENTS");
  if (events_value) {
    auto events = parse_events(spec_for("EXTENSION_RUNNER_EVENTS"), *events_value);
    if (!events) return events.error();
    c.events = *events;
  } else if (c.platform == Platform::ManagedInstances) {
    c.events = {"SHUTDOWN"};
  }

  c.runner.command = get("EXTENSION_RUNNER_COMMAND").value_or("");
  c.runner.handler = get("EXTENSION_RUNNER_HANDLER").value_or("");
  auto startup =
      get_int("EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", 100, 9000, c.runner.startup_timeout_ms);
  if (!startup) return startup.error();
  c.runner.startup_timeout_ms = *startup;
  if (auto v = get("EXTENSION_RUNNER_DISPATCH")) {
    if (*v == "sync") {
      c.runner.dispatch = Dispatch::Sync;
    } else if (*v == "async") {
      c.runner.dispatch = Dispatch::Async;
    } else {
      return invalid(spec_for("EXTENSION_RUNNER_DISPATCH"), *v, "expected sync or async");
    }
  }
  if (auto v = get("EXTENSION_RUNNER_CHILD_START")) {
    if (*v == "init") {
      c.runner.child_start = ChildStart::Init;
    } else if (*v == "background") {
      c.runner.child_start = ChildStart::Background;
    } else {
      return invalid(spec_for("EXTENSION_RUNNER_CHILD_START"), *v, "expected init or background");
    }
  }
  auto crashes = get_int("EXTENSION_RUNNER_MAX_CRASHES", 1, 1000, c.runner.max_crashes);
  if (!crashes) return crashes.error();
  c.runner.max_crashes = static_cast<int>(*crashes);
  auto max_message = get_int("EXTENSION_RUNNER_MAX_MESSAGE_BYTES", 1024, int64_t{1} << 30,
                             static_cast<int64_t>(c.runner.max_message_bytes));
  if (!max_message) return max_message.error();
  c.runner.max_message_bytes = static_cast<size_t>(*max_message);
  if (auto v = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")) {
    auto mb = parse_int(spec_for("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), *v, 1, 1 << 20);
    if (!mb) return mb.error();
    c.runner.memory_size = *v;
  }

  if (auto v = get("EXTENSION_RUNNER_TELEMETRY")) {
    if (*v == "off") {
      c.telemetry.mode = TelemetryMode::Off;
    } else if (*v == "telemetry") {
      c.telemetry.mode = TelemetryMode::Telemetry;
    } else if (*v == "logs") {
      c.telemetry.mode = TelemetryMode::Logs;
    } else {
      return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY"), *v, "expected off, telemetry or logs");
    }
  }
  c.telemetry.schema = get("EXTENSION_RUNNER_TELEMETRY_SCHEMA").value_or("");
  if (auto v = get("EXTENSION_RUNNER_TELEMETRY_TYPES")) {
    c.telemetry.types = split_csv(*v);
    if (c.telemetry.types.empty()) {
      return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_TYPES"), *v, "types should not be empty");
    }
    for (const auto& t : c.telemetry.types) {
      if (t != "platform" && t != "function" && t != "extension") {
        return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_TYPES"), *v,
                       "unknown type '" + t + "' (expected platform, function, extension)");
      }
    }
  }
  auto items = get_int("EXTENSION_RUNNER_BUFFER_MAX_ITEMS", kMinItems, kMaxItems,
                       c.telemetry.buffer_max_items);
  if (!items) return items.error();
  c.telemetry.buffer_max_items = static_cast<int>(*items);
  auto bytes = get_int("EXTENSION_RUNNER_BUFFER_MAX_BYTES", kMinBytes, kMaxBytes,
                       c.telemetry.buffer_max_bytes);
  if (!bytes) return bytes.error();
  c.telemetry.buffer_max_bytes = static_cast<int>(*bytes);
  auto timeout = get_int("EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", kMinTimeoutMs, kMaxTimeoutMs,
                         c.telemetry.buffer_timeout_ms);
  if (!timeout) return timeout.error();
  c.telemetry.buffer_timeout_ms = static_cast<int>(*timeout);
  if (auto v = get("EXTENSION_RUNNER_LISTEN")) {
    const auto colon = v->rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return invalid(spec_for("EXTENSION_RUNNER_LISTEN"), *v, "expected host:port");
    }
    auto port = parse_int(spec_for("EXTENSION_RUNNER_LISTEN"), v->substr(colon + 1), 0, 65535);
    if (!port) return port.error();
    if (*port == 9001) {
      return invalid(spec_for("EXTENSION_RUNNER_LISTEN"), *v, "port 9001 is reserved by Lambda");
    }
    c.telemetry.listen = *v;
  }
  if (auto v = get("EXTENSION_RUNNER_FLUSH")) {
    const auto& spec = spec_for("EXTENSION_RUNNER_FLUSH");
    if (*v == "invoke") {
      c.telemetry.flush = FlushMode::Invoke;
    } else if (*v == "adaptive") {
      c.telemetry.flush = FlushMode::Adaptive;
    } else if (*v == "none") {
      c.telemetry.flush = FlushMode::None;
    } else if (*v == "periodic") {
      c.telemetry.flush = FlushMode::Periodic;
    } else if (v->rfind("periodic,", 0) == 0) {
      auto ms = parse_int(spec, v->substr(9), 1, 900000);
      if (!ms) return invalid(spec, *v, "expected periodic,MS with MS between 1 and 900000");
      c.telemetry.flush = FlushMode::Periodic;
      c.telemetry.flush_period_ms = *ms;
    } else {
      return invalid(spec, *v, "expected invoke, periodic[,MS], adaptive or none");
    }
  }
  if (auto v = get("EXTENSION_RUNNER_TELEMETRY_PROTOCOL")) {
    if (*v == "http") {
      c.telemetry.protocol = TelemetryProtocol::Http;
    } else if (*v == "tcp") {
      c.telemetry.protocol = TelemetryProtocol::Tcp;
    } else {
      return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_PROTOCOL"), *v, "expected http or tcp");
    }
    if (c.telemetry.protocol == TelemetryProtocol::Tcp && c.telemetry.mode == TelemetryMode::Logs) {
      return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_PROTOCOL"), *v,
                     "tcp needs EXTENSION_RUNNER_TELEMETRY=telemetry");
    }
    if (c.telemetry.protocol == TelemetryProtocol::Tcp && !c.telemetry.schema.empty() &&
        c.telemetry.schema != "2025-01-29") {
      return invalid(spec_for("EXTENSION_RUNNER_TELEMETRY_PROTOCOL"), *v,
                     "tcp needs schema 2025-01-29, not " + c.telemetry.schema);
    }
  }
  auto qrecords = get_int("EXTENSION_RUNNER_QUEUE_MAX_RECORDS", 1, 10000000,
                          static_cast<int64_t>(c.telemetry.queue_max_records));
  if (!qrecords) return qrecords.error();
  c.telemetry.queue_max_records = static_cast<size_t>(*qrecords);
  auto qbytes = get_int("EXTENSION_RUNNER_QUEUE_MAX_BYTES", 65536, int64_t{1} << 32,
                        static_cast<int64_t>(c.telemetry.queue_max_bytes));
  if (!qbytes) return qbytes.error();
  c.telemetry.queue_max_bytes = static_cast<size_t>(*qbytes);
  c.runner.working_dir = get("EXTENSION_RUNNER_WORKING_DIR").value_or("");
  if (auto mode = check_mode(c, get); !mode) return mode.error();
  return c;
}

bool is_name_char(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

// Shell words of the form NAME=value (`TOKEN=abc python3 x.py`, `env KEY=v …`) may carry
// secrets: their values become ***. Quotes inside a value are followed so `A="x y"` is one word.
std::string redact_assignments(const std::string& command) {
  std::string out;
  size_t i = 0;
  const size_t n = command.size();
  while (i < n) {
    if (command[i] == ' ' || command[i] == '\t' || command[i] == '\n') {
      out += command[i++];
      continue;
    }
    size_t j = i;
    while (j < n && is_name_char(command[j], j == i)) ++j;
    const bool assignment = j > i && j < n && command[j] == '=';
    char quote = 0;
    size_t end = assignment ? j + 1 : i;
    while (end < n &&
           (quote != 0 || (command[end] != ' ' && command[end] != '\t' && command[end] != '\n'))) {
      if (quote == 0 && (command[end] == '"' || command[end] == '\'')) {
        quote = command[end];
      } else if (quote != 0 && command[end] == quote) {
        quote = 0;
      }
      ++end;
    }
    out += assignment ? command.substr(i, j + 1 - i) + "***" : command.substr(i, end - i);
    i = end;
  }
  return out;
}

const char* telemetry_words(TelemetryMode mode) {
  switch (mode) {
    case TelemetryMode::Off:
      return "off";
    case TelemetryMode::Telemetry:
      return "telemetry-api";
    case TelemetryMode::Logs:
      return "logs-api";
  }
  return "off";
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

std::string describe_config(const Config& config) {
  std::string line = std::string("config: platform=") + platform_name(config.platform);
  if (config.platform == Platform::ManagedInstances) {
    line += std::string("(AWS_LAMBDA_INITIALIZATION_TYPE=") + kManagedInstancesInitType + ")";
  }
  line += " events=" + joined(config.events, ",");
  line +=
      " runtime-api=" + (config.runtime_api.empty() ? std::string("unset") : config.runtime_api);
  line += " api-timeout=" + std::to_string(config.api_timeout_ms) + "ms";
  line += " config-file=" + (config.config_file.empty() ? std::string("none") : config.config_file);
  if (config.runner.command.empty()) {
    line += " child=none";
  } else {
    line += " child=" + json_quote(redact_assignments(config.runner.command));
    line +=
        std::string(" dispatch=") + (config.runner.dispatch == Dispatch::Sync ? "sync" : "async");
    line += " startup-timeout=" + std::to_string(config.runner.startup_timeout_ms) + "ms";
    line += " max-crashes=" + std::to_string(config.runner.max_crashes);
    line += std::string(" child-start=") +
            (config.runner.child_start == ChildStart::Background ? "background" : "init");
  }
  line += std::string(" telemetry=") + telemetry_words(config.telemetry.mode);
  if (config.telemetry.mode != TelemetryMode::Off) {
    line += " types=" + joined(config.telemetry.types, ",");
    line += " schema=" + config.telemetry.effective_schema();
    line += std::string(" protocol=") +
            (config.telemetry.protocol == TelemetryProtocol::Tcp ? "tcp" : "http");
    line += std::string(" flush=") + flush_mode_name(config.telemetry.flush);
    if (config.telemetry.flush == FlushMode::Periodic && config.telemetry.flush_period_ms > 0) {
      line += "," + std::to_string(config.telemetry.flush_period_ms) + "ms";
    }
    // Whether /next may wait for platform.runtimeDone, after platform and events are weighed.
    line += std::string(" flush-waits=") +
            (config.telemetry.flush_may_wait(config.receives_invokes()) ? "yes" : "no");
    line += " listen=" + config.telemetry.listen;
    line += " buffering=" + std::to_string(config.telemetry.buffer_max_items) + "items/" +
            std::to_string(config.telemetry.buffer_max_bytes) + "B/" +
            std::to_string(config.telemetry.buffer_timeout_ms) + "ms";
    line += " queue=" + std::to_string(config.telemetry.queue_max_records) + "records/" +
            std::to_string(config.telemetry.queue_max_bytes) + "B";
  }
  return line;
}

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
