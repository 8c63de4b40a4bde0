#pragma once
/**
 * @file layer_root.hpp
 * `extension-runner emulate --layer ZIP`: a packaged layer unpacked into a scratch folder as
 * Lambda extracts layers into /opt [CFG], its configuration made runnable on this machine, and
 * its own binary run in emulate mode.
 */
#include <string>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** One path Lambda's environment has, and what stands for it here. */
struct PathMapping {
  std::string from;  ///< As the layer's configuration names it, e.g. `/var/lang/bin/python3`.
  std::string to;    ///< What runs here instead, e.g. `python3` (looked up in PATH).
};

/**
 * The interpreters of Lambda's managed runtimes, which a layer's command names by their
 * absolute path (extensions get no `/var/lang/bin` on PATH, docs/platform-teams.md), mapped to
 * this machine's `python3` and `node`.
 */
std::vector<PathMapping> default_interpreters();

/** `FROM=TO` (`--interpreter`); ConfigInvalid naming the text when either side is empty. */
Result<PathMapping> parse_path_mapping(const std::string& text);

/**
 * A configuration value made runnable here: each `mappings` entry's `from` is replaced by its
 * `to` wherever it stands as a whole path, then every path starting `/opt/` starts `<root>/`
 * instead (the layer is unpacked there, not in /opt). Pure.
 */
std::string localise_value(const std::string& value, const std::string& root,
                           const std::vector<PathMapping>& mappings);

/**
 * Move-only owner of a scratch folder holding one unpacked layer; the destructor removes it.
 */
class LayerRoot {
 public:
  /**
   * Unzips `zip` (with the system's `unzip`) into a new folder under $TMPDIR (else /tmp). Io
   * when `unzip` cannot run, ConfigInvalid when the zip is unreadable or holds no single
   * extension (`extensions/<name>`, executable).
   */
  static Result<LayerRoot> unpack(const std::string& zip);

  LayerRoot(LayerRoot&& other) noexcept;
  LayerRoot& operator=(LayerRoot&& other) noexcept;
  LayerRoot(const LayerRoot&) = delete;
  LayerRoot& operator=(const LayerRoot&) = delete;
  ~LayerRoot();

  const std::string& path() const { return path_; }
  /** The extension's name: its file in `extensions/`. */
  const std::string& name() const { return name_; }
  /** `<root>/extensions/<name>`. */
  std::string binary() const { return path_ + "/extensions/" + name_; }

  /**
   * Rewrites `<root>/<name>/extension-runner.json`, when the layer has one, with every string
   * value passed through localise_value(). ConfigInvalid when it is not a JSON object (the
   * binary would refuse it too, with the same words).
   */
  Result<void> localise_config(const std::vector<PathMapping>& mappings) const;

 private:
  LayerRoot(std::string path, std::string name) : path_(std::move(path)), name_(std::move(name)) {}
  void remove();

  std::string path_;
  std::string name_;
};

/**
 * Runs `<root>/extensions/<name>` with `args` (`emulate …`), without the caller's
 * EXTENSION_RUNNER_* variables and AWS_LAMBDA_RUNTIME_API (the layer's file configures it, as
 * in Lambda), in its own process group; SIGINT and SIGTERM are passed on to it (its emulate
 * turns them into SHUTDOWN). Returns its exit code (128 + signal when killed), 2 when it could
 * not start.
 */
int run_layer_binary(const LayerRoot& layer, const std::vector<std::string>& args);

}  // namespace extension_runner
