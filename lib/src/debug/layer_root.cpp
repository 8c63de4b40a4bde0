#include "extension_runner/debug/layer_root.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "extension_runner/core/json.hpp"
#include "extension_runner/runner/process.hpp"

extern char** environ;

namespace extension_runner {
namespace {

namespace fs = std::filesystem;

// A character that continues a path: a match next to one is part of a longer path.
bool path_char(char c) {
  return (std::isalnum(static_cast<unsigned char>(c)) != 0) || c == '_' || c == '.' || c == '-' ||
         c == '/';
}

// `from` replaced by `to` where it starts a path (nothing path-like before it); with
// `whole`, also where nothing path-like follows it.
std::string replace_paths(const std::string& text, const std::string& from, const std::string& to,
                          bool whole) {
  std::string out;
  size_t start = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + 1)) {
    const size_t end = at + from.size();
    const bool starts = at == 0 || !path_char(text[at - 1]);
    const bool ends = !whole || end == text.size() || !path_char(text[end]);
    if (!starts || !ends || at < start) continue;
    out.append(text, start, at - start).append(to);
    start = end;
  }
  return out.append(text, start, std::string::npos);
}

std::string scratch_parent() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

Result<std::string> make_scratch_folder() {
  std::string pattern = scratch_parent() + "/extension-runner-layer.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return io_error("mkdtemp " + pattern);
  return pattern;
}

Result<void> unzip_into(const std::string& zip, const std::string& folder) {
  SpawnOptions options;
  options.argv = {"unzip", "-q", "-o", zip, "-d", folder};
  options.pipe_stdin = false;
  options.pipe_stdout = false;
  options.pipe_stderr = false;  // unzip's own words reach the user as they are
  auto unzip = ChildProcess::spawn(options);
  if (!unzip) {
    return make_error(ErrorKind::Io, "emulate --layer needs `unzip` (apt-get install unzip): " +
                                         unzip.error().message);
  }
  const ExitStatus status = unzip->wait();
  if (!status.success()) {
    return make_error(ErrorKind::ConfigInvalid,
                      zip + ": unzip failed (" + status.describe() + "): not a layer zip");
  }
  return {};
}

// The one file in extensions/: Lambda starts each file there as an extension [CFG].
Result<std::string> single_extension(const std::string& zip, const std::string& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root + "/extensions", ec)) {
    if (entry.is_regular_file(ec)) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    return make_error(ErrorKind::ConfigInvalid,
                      zip + ": no extensions/<name> file: not an extension layer");
  }
  if (names.size() > 1) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return make_error(ErrorKind::ConfigInvalid,
                      zip + ": several extensions (" + list + "): emulate --layer runs one");
  }
  if (::access((root + "/extensions/" + names[0]).c_str(), X_OK) != 0) {
    return make_error(ErrorKind::ConfigInvalid, zip + ": extensions/" + names[0] +
                                                    " is not executable (Lambda would not "
                                                    "start it)");
  }
  return names[0];
}

void localise_strings(rapidjson::Value& value, const std::string& root,
                      const std::vector<PathMapping>& mappings,
                      rapidjson::Document::AllocatorType& allocator) {
  for (auto& member : value.GetObject()) {
    if (!member.value.IsString()) continue;
    const std::string local = localise_value(member.value.GetString(), root, mappings);
    member.value.SetString(local.c_str(), static_cast<rapidjson::SizeType>(local.size()),
                           allocator);
  }
}

// The process group run_layer_binary passes signals to; 0 when none.
volatile sig_atomic_t g_layer_group = 0;

void pass_signal_on(int sig) {
  if (g_layer_group > 0) ::kill(-g_layer_group, sig);
}

// Installs pass_signal_on for SIGINT and SIGTERM for its lifetime.
class SignalsPassedOn {
 public:
  explicit SignalsPassedOn(pid_t group) {
    g_layer_group = group;
    struct sigaction action {};
    action.sa_handler = pass_signal_on;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalsPassedOn() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_layer_group = 0;
  }
  SignalsPassedOn(const SignalsPassedOn&) = delete;
  SignalsPassedOn& operator=(const SignalsPassedOn&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace

std::vector<PathMapping> default_interpreters() {
  return {{"/var/lang/bin/python3", "python3"}, {"/var/lang/bin/node", "node"}};
}

Result<PathMapping> parse_path_mapping(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return make_error(ErrorKind::ConfigInvalid, "--interpreter '" + text +
                                                    "': expected LAMBDA_PATH=LOCAL, e.g. "
                                                    "/var/lang/bin/python3=python3.12");
  }
  return PathMapping{text.substr(0, eq), text.substr(eq + 1)};
}

std::string localise_value(const std::string& value, const std::string& root,
                           const std::vector<PathMapping>& mappings) {
  std::string out = value;
  for (const auto& m : mappings) out = replace_paths(out, m.from, m.to, true);
  return replace_paths(out, "/opt/", root + "/", false);
}

Result<LayerRoot> LayerRoot::unpack(const std::string& zip) {
  std::error_code ec;
  if (!fs::is_regular_file(zip, ec)) {
    return make_error(ErrorKind::ConfigInvalid, "emulate --layer " + zip + ": no such file");
  }
  auto folder = make_scratch_folder();
  if (!folder) return folder.error();
  LayerRoot root(*folder, "");  // owns the folder from here: removed on every return
  if (auto unzipped = unzip_into(zip, root.path_); !unzipped) return unzipped.error();
  auto name = single_extension(zip, root.path_);
  if (!name) return name.error();
  root.name_ = *name;
  return root;
}

LayerRoot::LayerRoot(LayerRoot&& other) noexcept
    : path_(std::move(other.path_)), name_(std::move(other.name_)) {
  other.path_.clear();
}

LayerRoot& LayerRoot::operator=(LayerRoot&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::move(other.path_);
    name_ = std::move(other.name_);
    other.path_.clear();
  }
  return *this;
}

LayerRoot::~LayerRoot() { remove(); }

void LayerRoot::remove() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
  path_.clear();
}

Result<void> LayerRoot::localise_config(const std::vector<PathMapping>& mappings) const {
  const std::string file = path_ + "/" + name_ + "/extension-runner.json";
  std::ifstream in(file);
  if (!in) return {};  // no file: the layer is configured by the environment alone
  std::stringstream text;
  text << in.rdbuf();
  auto doc = parse_json(text.str());
  if (!doc || !doc->IsObject()) {
    return make_error(ErrorKind::ConfigInvalid,
                      file + ": not a JSON object" + (doc ? "" : ": " + doc.error().message));
  }
  localise_strings(*doc, path_, mappings, doc->GetAllocator());
  std::ofstream out(file, std::ios::trunc);
  out << to_json(*doc) << '\n';
  if (!out.flush()) return io_error("write " + file);
  return {};
}

int run_layer_binary(const LayerRoot& layer, const std::vector<std::string>& args) {
  SpawnOptions options;
  options.argv = {layer.binary()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.unset_env = {"AWS_LAMBDA_RUNTIME_API"};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("EXTENSION_RUNNER_", 0) == 0)
      options.unset_env.push_back(entry.substr(0, entry.find('=')));
  }
  options.pipe_stdin = false;
  options.pipe_stdout = false;
  options.pipe_stderr = false;
  auto child = ChildProcess::spawn(options);
  if (!child) {
    std::fprintf(stderr, "%s: %s\n", layer.name().c_str(), child.error().message.c_str());
    return 2;
  }
  SignalsPassedOn passing(child->pid());
  // Waited for in slices: a signal handler may only run once a blocking call returns (seen
  // under ThreadSanitizer, which defers signals), and Ctrl-C must reach the layer promptly.
  std::optional<ExitStatus> status;
  while (!status) status = child->wait_for(std::chrono::milliseconds(100));
  return status->signaled ? 128 + status->code : status->code;
}

}  // namespace extension_runner
