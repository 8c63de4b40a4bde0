#pragma once
// The binary under test with tests/soak/child.py as its child and telemetry on, against a
// FakePlatform: what the soak (soak_test.cpp) and the listener load (load_test.cpp) start from.
#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "extension_runner/runner/process.hpp"
#include "fake_platform.hpp"
#include "support.hpp"

namespace test_support {

class SoakHost {
 public:
  /**
   * Starts the fake platform, then the host (EXTENSION_RUNNER_NAME `name`) with the soak child,
   * telemetry on a listener at 127.0.0.1:0 and `env` added (or overriding). SOAK_LOG is
   * `child_log`, in a fresh temporary folder removed at the end.
   */
  SoakHost(const std::string& name, const std::map<std::string, std::string>& env) {
    char tmpl[] = "/tmp/er-soak-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    child_log = dir_ + "/child.log";
    REQUIRE(fake.api.start().ok());
    extension_runner::SpawnOptions o;
    o.argv = {binary_path()};
    o.set_env = {{"AWS_LAMBDA_RUNTIME_API", fake.api.runtime_api()},
                 {"EXTENSION_RUNNER_NAME", name},
                 {"EXTENSION_RUNNER_COMMAND",
                  std::string("exec python3 ") + ER_SOURCE_DIR + "/tests/soak/child.py"},
                 {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                 {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"},
                 {"SOAK_LOG", child_log}};
    for (const auto& [key, value] : env) o.set_env[key] = value;
    o.pipe_stdin = false;
    auto spawned = extension_runner::ChildProcess::spawn(o);
    REQUIRE(spawned.ok());
    host.emplace(std::move(*spawned));
    out_.emplace(std::move(host->stdout_fd()));
    err_.emplace(std::move(host->stderr_fd()));
  }
  // The pipes reach EOF only once the host is gone: end it (a failed REQUIRE) before draining.
  ~SoakHost() {
    if (host && host->running()) {
      host->signal_group(SIGKILL);
      host->wait();
    }
    out_.reset();
    err_.reset();
    (void)!std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  SoakHost(const SoakHost&) = delete;
  SoakHost& operator=(const SoakHost&) = delete;

  /** Kills the host and fails the test with its log. */
  void fail_with_log() {
    host->signal_group(SIGKILL);
    host->wait();
    FAIL(err_->take());
  }
  /** The host's stderr (its log) once it has exited; its stdout is read and dropped. */
  std::string take_log() {
    (void)out_->take();
    return err_->take();
  }

  FakePlatform fake;
  std::string child_log;
  std::optional<extension_runner::ChildProcess> host;

 private:
  std::string dir_;
  std::optional<Drain> out_;
  std::optional<Drain> err_;
};

}  // namespace test_support
