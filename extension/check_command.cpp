#include "check_command.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>
#include <vector>

#include "command_words.hpp"
#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"

namespace extension_runner::cli {
namespace {

/** Where a word of the command is on this machine: `path`, or why it cannot be checked. */
struct Place {
  std::string path;
  std::string unchecked;
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Relative: the child's working directory's. Absolute: checked only inside the layer's own
// folder, here (`<layer_root>/<name>/…`) or as Lambda names it (`/opt/<name>/…` [CFG]).
Place place_of(const std::string& word, const std::string& working_dir, const std::string& name,
               const std::string& layer_root) {
  if (word.empty()) return {"", "empty"};
  if (word[0] != '/') return {working_dir.empty() ? word : working_dir + "/" + word, ""};
  const std::string here = layer_root + "/" + name + "/";
  const std::string in_lambda = "/opt/" + name + "/";
  if (starts_with(word, here)) return {word, ""};
  if (starts_with(word, in_lambda)) return {here + word.substr(in_lambda.size()), ""};
  return {"", "outside the layer: it must exist on the function's runtime"};
}

std::optional<std::string> file_problem(const std::string& path, bool executable) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string("is not there");
  if (!S_ISREG(st.st_mode)) return std::string("is not a file");
  if (executable && ::access(path.c_str(), X_OK) != 0) {
    return std::string("is not executable (the layer keeps each file's mode: chmod +x it)");
  }
  return std::nullopt;
}

/** What the check found: problems fail it, warnings and notes do not. */
struct Findings {
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
  std::vector<std::string> checked;
  std::vector<std::string> unchecked;
};

// The bare names the Python and Node.js runtimes keep in /var/lang/bin, which is not on an
// extension's PATH [VARS].
bool is_runtime_interpreter(const std::string& word) {
  return word.rfind("python", 0) == 0 || word == "node" || word == "nodejs";
}

void check_word(const Word& word, const char* role, bool executable, bool sets_path,
                const Config& config, const std::string& name, const std::string& layer_root,
                Findings& out) {
  if (!word.known) {
    out.unchecked.push_back(word.text + " (the shell expands it)");
    return;
  }
  if (executable && word.text.find('/') == std::string::npos) {
    if (is_runtime_interpreter(word.text) && !sets_path) {
      out.warnings.push_back("EXTENSION_RUNNER_COMMAND starts with " + word.text +
                             ", looked up in the extension's PATH "
                             "(/usr/local/bin:/usr/bin/:/bin:/opt/bin), which lacks /var/lang/bin "
                             "where the Python and Node.js runtimes keep theirs: write "
                             "/var/lang/bin/" +
                             word.text + " (docs/platform-teams.md)");
    }
    out.unchecked.push_back(word.text + " (looked up in PATH on the function's runtime)");
    return;
  }
  const Place place = place_of(word.text, config.runner.working_dir, name, layer_root);
  if (!place.unchecked.empty()) {
    out.unchecked.push_back(word.text + " (" + place.unchecked + ")");
    return;
  }
  if (auto problem = file_problem(place.path, executable)) {
    const std::string where =
        word.text[0] == '/' || config.runner.working_dir.empty()
            ? ""
            : " (relative to the child's working directory " + config.runner.working_dir + ")";
    const std::string found =
        place.path == word.text ? ", which " : where + ", but " + place.path + " ";
    out.problems.push_back("EXTENSION_RUNNER_COMMAND '" + config.runner.command + "' names the " +
                           role + " " + word.text + found + *problem);
  } else {
    out.checked.push_back(place.path + " (" + role + ")");
  }
}

Findings check_child(const Config& config, const std::string& name, const std::string& layer_root) {
  Findings out;
  if (!config.runner.working_dir.empty()) {
    struct stat st {};
    if (::stat(config.runner.working_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      out.problems.push_back("the child's working directory " + config.runner.working_dir +
                             " (EXTENSION_RUNNER_WORKING_DIR, else the configuration file's "
                             "folder) is not a folder");
      return out;
    }
  }
  if (config.runner.command.empty()) return out;
  const NamedFiles files = named_files(first_simple_command(config.runner.command));
  if (files.program)
    check_word(*files.program, "command", true, files.sets_path, config, name, layer_root, out);
  if (files.script)
    check_word(*files.script, "script", false, files.sets_path, config, name, layer_root, out);
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// An unknown key in the file is most often a misspelt setting: name the nearest one.
std::string typo_hint(const std::string& message) {
  const std::string marker = "unknown key \"";
  const auto begin = message.find(marker);
  if (begin == std::string::npos) return "";
  const auto end = message.find('"', begin + marker.size());
  if (end == std::string::npos) return "";
  const std::string key = message.substr(begin + marker.size(), end - begin - marker.size());
  const SettingSpec* best = nullptr;
  size_t best_distance = 4;  // more edits than a typo makes
  for (const auto& spec : settings()) {
    const size_t d = edit_distance(key, spec.env);
    if (d < best_distance) {
      best = &spec;
      best_distance = d;
    }
  }
  return best == nullptr ? "" : " (did you mean " + best->env + "?)";
}

template <typename Items>
std::string joined(const Items& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

void CheckCommand::add_to(CLI::App& app, const std::string& settings_help) {
  command_ = app.add_subcommand(
      "check",
      "Load and validate the configuration as Lambda mode would (environment, file, flags), and\n"
      "check that the files the child command names are there. Contacts nothing, starts\n"
      "nothing. Exit 0 when all is well, 2 otherwise.\n"
      "Example: extension-runner check --config path/to/extension-runner.json");
  command_->fallthrough();  // --config and the other settings flags belong to the main app
  command_->footer(settings_help);
}

bool CheckCommand::parsed() const { return command_->parsed(); }

int CheckCommand::run(const std::map<std::string, std::string>& given,
                      const std::string& default_name, const std::string& layer_root) const {
  auto config = load_config(given, process_env(), {default_name, layer_root});
  const auto env_name = process_env()("EXTENSION_RUNNER_NAME");
  const std::string fallback = env_name && !env_name->empty() ? *env_name : default_name;
  if (!config) {
    std::cerr << fallback << ": " << config.error().message << typo_hint(config.error().message)
              << '\n';
    return kExitUsage;
  }
  const std::string name = config->name.empty() ? default_name : config->name;
  const Findings found = check_child(*config, name, layer_root);
  for (const auto& w : found.warnings) std::cerr << name << ": warning: " << w << '\n';
  for (const auto& p : found.problems) std::cerr << name << ": " << p << '\n';
  if (!found.problems.empty()) return kExitUsage;
  std::cout << name << ": configuration ok ("
            << (config->config_file.empty() ? "no configuration file"
                                            : "configuration file " + config->config_file)
            << ")\n"
            << name << ": " << describe_config(*config) << '\n';
  if (!found.checked.empty()) std::cout << name << ": present: " << joined(found.checked) << '\n';
  if (!found.unchecked.empty()) {
    std::cout << name << ": not checked: " << joined(found.unchecked) << '\n';
  }
  return 0;
}

}  // namespace extension_runner::cli
