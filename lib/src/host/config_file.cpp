#include "extension_runner/host/config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

Error file_error(const std::string& path, const std::string& what) {
  return make_error(ErrorKind::ConfigInvalid, path + ": " + what);
}

const char* json_type_name(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

const char* expected_for(SettingType type) {
  switch (type) {
    case SettingType::Integer:
      return "a string or an integer";
    case SettingType::Boolean:
      return "a string or true/false";
    default:
      return "a string";
  }
}

// The text the environment variable would hold, or nullopt when the JSON type is wrong.
std::optional<std::string> value_text(const rapidjson::Value& v, SettingType type) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (type == SettingType::Integer) {
    // parse_json keeps integers as Int64/Uint64; 1.0 and 1e3 stay doubles and are refused, so
    // the file says exactly what the setting gets.
    if (v.IsInt64()) return std::to_string(v.GetInt64());
    if (v.IsUint64()) return std::to_string(v.GetUint64());
  }
  if (type == SettingType::Boolean && v.IsBool())
    return std::string(v.GetBool() ? "true" : "false");
  return std::nullopt;
}

// Absolute and without `.`/`..` components, so it can be joined and shown.
std::string absolute_path(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (!ec) p = cwd / p;
  }
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string folder_of(const std::string& absolute) {
  const auto slash = absolute.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : absolute.substr(0, slash);
}

bool plain_word(const std::string& word) {
  for (const char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("._-+/@%:,", c) != nullptr;
    if (!ok) return false;
  }
  return true;
}

std::string shell_quote(const std::string& text) {
  if (!text.empty() && plain_word(text)) return text;
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

Result<ConfigFile> parse_config_file(const std::string& path, std::string_view text,
                                     const std::vector<SettingSpec>& table) {
  auto doc = parse_json(text);
  if (!doc) return file_error(path, "not valid JSON: " + doc.error().message);
  if (!doc->IsObject()) {
    return file_error(
        path, "expected a JSON object of settings, got " + std::string(json_type_name(*doc)));
  }
  ConfigFile file;
  file.path = path;
  file.folder = folder_of(path);
  std::set<std::string> seen;
  for (const auto& member : doc->GetObject()) {
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    const SettingSpec* spec = nullptr;
    for (const auto& s : table) {
      if (s.env == key) spec = &s;
    }
    if (spec == nullptr) {
      return file_error(path, "unknown key \"" + key +
                                  "\" (keys are the settings' environment variable names, e.g. "
                                  "EXTENSION_RUNNER_COMMAND)");
    }
    if (key == "EXTENSION_RUNNER_CONFIG" || key == "EXTENSION_RUNNER_NAME") {
      return file_error(path, "key " + key +
                                  " cannot be set in the file: it chooses which file is read "
                                  "(set it in the environment or with --" +
                                  spec->flag + ")");
    }
    if (!seen.insert(key).second) return file_error(path, "key " + key + " appears twice");
    const SettingType type = setting_type(*spec);
    auto value = value_text(member.value, type);
    if (!value) {
      return file_error(path, "key " + key + ": expected " + expected_for(type) + ", got " +
                                  json_type_name(member.value));
    }
    if (!value->empty()) file.values[key] = std::move(*value);
  }
  return file;
}

Result<std::optional<ConfigFile>> read_config_file(const std::string& path, bool must_exist,
                                                   const std::vector<SettingSpec>& table) {
  const std::string absolute = absolute_path(path);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked next.
  Fd fd(::open(absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    const int e = errno;
    if (e == ENOENT && !must_exist) return std::optional<ConfigFile>();
    return file_error(absolute, std::string("cannot read: ") + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return file_error(absolute, std::string("cannot read: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return file_error(absolute, "cannot read: not a regular file");
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error(absolute, std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      return file_error(absolute, "larger than " + std::to_string(kMaxConfigFileBytes) + " bytes");
    }
  }
  auto file = parse_config_file(absolute, text, table);
  if (!file) return file.error();
  return std::optional<ConfigFile>(std::move(*file));
}

std::string resolve_file_command(const std::string& command, const std::string& folder) {
  const auto begin = command.find_first_not_of(" \t");
  if (begin == std::string::npos) return command;
  auto end = command.find_first_of(" \t\n", begin);
  if (end == std::string::npos) end = command.size();
  std::string word = command.substr(begin, end - begin);
  if (word[0] == '/' || word.find('/') == std::string::npos || !plain_word(word)) return command;
  while (word.rfind("./", 0) == 0) word.erase(0, 2);
  const std::string base = folder == "/" ? "" : shell_quote(folder);
  return command.substr(0, begin) + base + "/" + word + command.substr(end);
}

std::string layer_root_of(const std::string& argv0) {
  if (argv0.find('/') == std::string::npos) return "/opt";
  return folder_of(folder_of(absolute_path(argv0)));
}

}  // namespace extension_runner
