#pragma once
/**
 * @file log.hpp
 * Levelled logging to stderr, one line per message, safe from any thread.
 *
 * Honours Lambda's advanced logging controls
 * (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
 * `AWS_LAMBDA_LOG_FORMAT` = `Text` | `JSON`, `AWS_LAMBDA_LOG_LEVEL` = `TRACE` … `FATAL`.
 * In JSON format each line is `{"timestamp":…,"level":…,"message":…}` plus optional fields.
 */
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace extension_runner {

enum class LogLevel { Trace = 0, Debug, Info, Warn, Error, Fatal };
enum class LogFormat { Text, JSON };

/** Parses `TRACE`…`FATAL` (any case; `WARNING` too). nullopt on anything else. */
std::optional<LogLevel> parse_log_level(std::string_view text);
/** Parses `Text` / `JSON` (any case). nullopt on anything else. */
std::optional<LogFormat> parse_log_format(std::string_view text);
/** Upper-case name of a level, as written in log lines. */
std::string_view log_level_name(LogLevel level);

/** Process-wide logger settings. Set once at start-up; reads are thread-safe. */
void set_log_level(LogLevel level);
void set_log_format(LogFormat format);
/** Every line starts with this name (text) or carries it as `"extension"` (JSON). */
void set_log_name(std::string name);
LogLevel log_level();
/** Would a message at `level` be written? */
bool log_enabled(LogLevel level);

/** Redirects log lines (fully formatted, without the newline) for tests; nullptr restores stderr.
 */
void set_log_sink(std::function<void(const std::string&)> sink);

/** Writes one line at `level` (dropped below the configured level). */
void log(LogLevel level, std::string_view message);
/** Writes a line with an extra `source` attribute (JSON: `"source"`; text: `[source]` prefix). */
void log_from(LogLevel level, std::string_view source, std::string_view message);

inline void log_trace(std::string_view m) { log(LogLevel::Trace, m); }
inline void log_debug(std::string_view m) { log(LogLevel::Debug, m); }
inline void log_info(std::string_view m) { log(LogLevel::Info, m); }
inline void log_warn(std::string_view m) { log(LogLevel::Warn, m); }
inline void log_error(std::string_view m) { log(LogLevel::Error, m); }

}  // namespace extension_runner
