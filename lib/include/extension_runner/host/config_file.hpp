#pragma once
/**
 * @file config_file.hpp
 * The configuration file that travels with a layer: `/opt/<name>/extension-runner.json`
 * (layers are extracted to `/opt` [CFG]), a JSON object whose keys are the settings'
 * environment names. Reading and checking it; the merge (flag > env > file > default) is
 * load_config's (config.hpp).
 */
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "extension_runner/core/result.hpp"
#include "extension_runner/host/settings.hpp"

namespace extension_runner {

/** The file name looked for in `/opt/<name>/`. */
inline constexpr const char* kConfigFileName = "extension-runner.json";
/** Larger files are refused: a settings file is a few hundred bytes. */
inline constexpr size_t kMaxConfigFileBytes = 1024 * 1024;

/** What a configuration file says. */
struct ConfigFile {
  std::string path;    ///< The file, absolute.
  std::string folder;  ///< Its folder, absolute: relative paths in the file are resolved here.
  /** Setting values by SettingSpec::env, as the environment variable would hold them. */
  std::map<std::string, std::string> values;
};

/**
 * Checks the text of configuration file `path` against `table`: one JSON object (parse_json's
 * strict rules), each key the `env` of a row (not EXTENSION_RUNNER_CONFIG or
 * EXTENSION_RUNNER_NAME, which choose the file), at most once, each value a string or what
 * setting_type() allows (integers as decimal text, booleans as `true`/`false`). An empty string
 * is left out (unset, as an empty environment variable). Errors are ConfigInvalid and start
 * with the path; they name the key and the problem.
 */
Result<ConfigFile> parse_config_file(const std::string& path, std::string_view text,
                                     const std::vector<SettingSpec>& table);

/**
 * Reads and checks configuration file `path` (made absolute against the working directory).
 * A missing file is nullopt unless `must_exist`; a file that exists but cannot be read, is not
 * a regular file or is larger than kMaxConfigFileBytes is an error naming it.
 */
Result<std::optional<ConfigFile>> read_config_file(const std::string& path, bool must_exist,
                                                   const std::vector<SettingSpec>& table);

/**
 * The command a configuration file in `folder` means: when the first word of `command` (up to
 * the first blank) is a relative path containing `/` and no shell syntax (only letters, digits
 * and `._-+/@%:,`), it is made absolute against `folder` (`./run.sh` → `/opt/x/run.sh`).
 * Everything else is unchanged: a bare name (`python3`) is searched in PATH by `/bin/sh`, and
 * the other words are the child's, relative to its working directory.
 */
std::string resolve_file_command(const std::string& command, const std::string& folder);

/**
 * The folder holding the layers' `<name>/` folders for a binary started as `argv0`: the parent
 * of the folder that holds it (`/opt/extensions/x` → `/opt`), absolute. `/opt` when `argv0`
 * holds no `/` (found in PATH).
 */
std::string layer_root_of(const std::string& argv0);

}  // namespace extension_runner
