#include "extension_runner/core/log.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <mutex>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"

namespace extension_runner {
namespace {

struct LoggerState {
  std::mutex mutex;
  std::atomic<int> level{static_cast<int>(LogLevel::Info)};
  LogFormat format = LogFormat::Text;
  std::string name = "extension-runner";
  std::function<void(const std::string&)> sink;
};

LoggerState& state() {
  static LoggerState s;
  return s;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  const std::string u = upper(text);
  if (u == "TRACE") return LogLevel::Trace;
  if (u == "DEBUG") return LogLevel::Debug;
  if (u == "INFO") return LogLevel::Info;
  if (u == "WARN" || u == "WARNING") return LogLevel::Warn;
  if (u == "ERROR") return LogLevel::Error;
  if (u == "FATAL") return LogLevel::Fatal;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  const std::string u = upper(text);
  if (u == "TEXT") return LogFormat::Text;
  if (u == "JSON") return LogFormat::JSON;
  return std::nullopt;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return "TRACE";
    case LogLevel::Debug:
      return "DEBUG";
    case LogLevel::Info:
      return "INFO";
    case LogLevel::Warn:
      return "WARN";
    case LogLevel::Error:
      return "ERROR";
    case LogLevel::Fatal:
      return "FATAL";
  }
  return "INFO";
}

void set_log_level(LogLevel level) { state().level = static_cast<int>(level); }
void set_log_format(LogFormat format) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().format = format;
}
void set_log_name(std::string name) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().name = std::move(name);
}
LogLevel log_level() { return static_cast<LogLevel>(state().level.load()); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) >= state().level.load(); }

void set_log_sink(std::function<void(const std::string&)> sink) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().sink = std::move(sink);
}

void log(LogLevel level, std::string_view message) { log_from(level, {}, message); }

void log_from(LogLevel level, std::string_view source, std::string_view message) {
  if (!log_enabled(level)) return;
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::string timestamp = format_iso8601(wall_clock_ms());
  std::string line;
  if (s.format == LogFormat::JSON) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("timestamp");
    w.String(timestamp.data(), static_cast<rapidjson::SizeType>(timestamp.size()));
    w.Key("level");
    const auto name = log_level_name(level);
    w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.Key("message");
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    w.Key("extension");
    w.String(s.name.data(), static_cast<rapidjson::SizeType>(s.name.size()));
    if (!source.empty()) {
      w.Key("source");
      w.String(source.data(), static_cast<rapidjson::SizeType>(source.size()));
    }
    w.EndObject();
    line.assign(buffer.GetString(), buffer.GetSize());
  } else {
    line.reserve(timestamp.size() + s.name.size() + message.size() + 16);
    line.append(timestamp).append(" ").append(log_level_name(level)).append(" ");
    line.append(s.name).append(": ");
    if (!source.empty()) line.append("[").append(source).append("] ");
    line.append(message);
  }
  if (s.sink) {
    s.sink(line);
  } else {
    // Written whole under the logger's lock, so lines from several threads (and the child's
    // forwarded stderr) never interleave mid-line; a failed write loses only this line.
    line.push_back('\n');
    (void)write_all(STDERR_FILENO, line.data(), line.size());
  }
}

}  // namespace extension_runner
