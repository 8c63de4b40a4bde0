#pragma once
/**
 * @file check_command.hpp
 * `extension-runner check [--config FILE]`: what a packaging step (or a developer) runs to catch
 * a configuration mistake before the layer reaches a function.
 */
#include <map>
#include <string>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}

namespace extension_runner::cli {

/** The `check` subcommand. */
class CheckCommand {
 public:
  /**
   * Adds `check` to `app`; the settings flags (`--config`, …) stay the main app's, and
   * `settings_help` (their list) ends its `--help`.
   */
  void add_to(CLI::App& app, const std::string& settings_help);

  /** Whether `check` was on the command line. */
  bool parsed() const;

  /**
   * Loads the configuration exactly as Lambda mode does (load_config with the flags `given`,
   * the process environment and the default file `<layer_root>/<name>/extension-runner.json`
   * [CFG]), then checks what the child command names, without contacting any API or starting
   * anything:
   * - the working directory exists;
   * - a command word with a `/` (after `NAME=value` words, `exec` and `env`) is an executable
   *   file, and for an interpreter (`python3`, `node`, `sh`, …) the script it is given is a
   *   file; relative paths are the child's working directory's (the configuration file's
   *   folder unless EXTENSION_RUNNER_WORKING_DIR says otherwise), and `/opt/<name>/…` is the
   *   layer's own folder. Other absolute paths (`/var/lang/bin/python3`) and words looked up in
   *   PATH exist only on the function's runtime: they are listed as not checked.
   * Problems go to stderr as `<name>: <message>` (a configuration error in the words Lambda mode
   * would report as init/error Extension.ConfigInvalid), the result to stdout. Returns 0 when
   * nothing is wrong, kExitUsage (2) otherwise.
   */
  int run(const std::map<std::string, std::string>& given, const std::string& default_name,
          const std::string& layer_root) const;

 private:
  CLI::App* command_ = nullptr;
};

}  // namespace extension_runner::cli
