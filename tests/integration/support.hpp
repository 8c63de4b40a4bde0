#pragma once
// Test support: run the real extension-runner binary as a subprocess and collect its output.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/runner/process.hpp"

namespace test_support {

/** True when the host runs under a sanitizer (`make test-sanitize`): its runtimes keep freed
 *  memory in quarantine and shadow memory counts in RSS, so RSS bounds do not apply. */
#if defined(ER_SANITIZED) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

/** The binary under test: $ER_BINARY (e.g. the static release build) or the dev build. */
inline std::string binary_path() {
  const char* b = std::getenv("ER_BINARY");
  return b != nullptr && *b != '\0' ? b : ER_DEFAULT_BINARY;
}

struct RunResult {
  extension_runner::ExitStatus status;
  bool timed_out = false;
  std::string out;
  std::string err;
};

/** Reads a pipe to EOF on its own thread (so a chatty child never blocks on a full pipe). */
class Drain {
 public:
  explicit Drain(extension_runner::Fd fd) : fd_(std::move(fd)) {
    thread_ = std::thread([this] {
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd_.get(), buf, sizeof buf)) > 0)
        text_.append(buf, static_cast<size_t>(n));
    });
  }
  ~Drain() {
    if (thread_.joinable()) thread_.join();
  }
  std::string take() {
    if (thread_.joinable()) thread_.join();
    return std::move(text_);
  }

 private:
  extension_runner::Fd fd_;
  std::string text_;
  std::thread thread_;
};

/**
 * Runs the binary with `args`, `env` added to the environment (and the variables in `unset`
 * removed), waiting at most `timeout_ms` before SIGKILLing it.
 */
inline RunResult run_binary(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env, int timeout_ms = 20000,
                            std::vector<std::string> unset = {"AWS_LAMBDA_RUNTIME_API"},
                            const std::string& argv0 = "") {
  extension_runner::SpawnOptions o;
  o.argv.push_back(argv0.empty() ? binary_path() : argv0);
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.set_env = env;
  o.unset_env = std::move(unset);
  o.pipe_stdin = false;
  auto child = extension_runner::ChildProcess::spawn(o);
  RunResult r;
  if (!child) {
    r.status = {false, 127};
    r.err = child.error().message;
    return r;
  }
  Drain out(std::move(child->stdout_fd()));
  Drain err(std::move(child->stderr_fd()));
  auto status = child->wait_for(std::chrono::milliseconds(timeout_ms));
  if (!status) {
    r.timed_out = true;
    child->signal_group(SIGKILL);
    status = child->wait();
  }
  r.status = *status;
  r.out = out.take();
  r.err = err.take();
  return r;
}

/** Reads `fd` until `needle` has appeared (or EOF); returns what was read. */
inline std::string read_until(int fd, const std::string& needle) {
  std::string text;
  char c;
  while (text.find(needle) == std::string::npos && ::read(fd, &c, 1) == 1) text.push_back(c);
  return text;
}

/** Splits text into non-empty lines. */
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

/** Every non-empty line of the file at `path`, each parsed as JSON (a test fails on a bad one). */
inline std::vector<rapidjson::Document> json_lines_of_file(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<rapidjson::Document> out;
  for (const auto& line : lines_of(text)) {
    auto doc = extension_runner::parse_json(line);
    REQUIRE(doc.ok());
    out.push_back(std::move(*doc));
  }
  return out;
}

}  // namespace test_support
