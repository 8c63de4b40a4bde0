#include "wrap_command.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "extension_runner/host/config_file.hpp"
#include "extension_runner/host/proxy_service.hpp"
#include "extension_runner/messages/options.hpp"

namespace extension_runner::cli {
namespace {

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void say(const std::string& line) { std::cerr << "extension-runner wrap: " << line << '\n'; }

// The address the host wrote (proxy_service.hpp), once it is there and well-formed. The host
// writes it before `/register` and Lambda starts the runtime after every extension registered,
// so it is normally there at the first look; the wait covers a slow start, and a short poll is
// all a file needs.
std::optional<std::string> await_address(const std::string& path) {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kWrapAddressWaitMs);
  while (true) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && parse_host_port(line, "proxy address")) return line;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int exec(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  say("cannot execute " + argv[0] + ": " + std::strerror(errno));
  return 127;
}

}  // namespace

std::map<std::string, std::string> runtime_exports(const Config& config,
                                                   const std::string& proxy_address) {
  std::map<std::string, std::string> exports;
  if (!proxy_address.empty()) exports["AWS_LAMBDA_RUNTIME_API"] = proxy_address;
  if (auto url = messages_runtime_url(config.messages); !url.empty()) {
    exports["EXTENSION_RUNNER_MESSAGES_URL"] = std::move(url);
  }
  return exports;
}

std::vector<std::string> wrapped_argv(const Config& config,
                                      const std::vector<std::string>& command) {
  if (config.proxy.next_wrapper.empty()) return command;
  std::vector<std::string> argv{config.proxy.next_wrapper};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

int run_wrap(const std::string& argv0, const std::vector<std::string>& command) {
  if (command.empty()) {
    say("no command to run (usage: extension-runner wrap -- CMD ARGS...)");
    return 2;
  }
  const std::string name_default = basename_of(argv0);
  auto config = load_config({}, process_env(), {name_default, layer_root_of(argv0)});
  if (!config) {
    say(config.error().message + "; running the runtime without the proxy");
    return exec(command);
  }
  std::string address;
  if (config->proxy.mode != ProxyMode::Off) {
    const std::string name = config->name.empty() ? name_default : config->name;
    const std::string path = proxy_address_path(name, process_env());
    if (auto found = await_address(path)) {
      address = *found;
    } else {
      say("no proxy address in " + path + " after " + std::to_string(kWrapAddressWaitMs) +
          " ms; running the runtime without the proxy");
    }
  }
  if (config->messages.enabled && messages_runtime_url(config->messages).empty()) {
    say("EXTENSION_RUNNER_MESSAGES_LISTEN=" + config->messages.listen +
        " is an ephemeral port: the runtime gets no EXTENSION_RUNNER_MESSAGES_URL");
  }
  for (const auto& [key, value] : runtime_exports(*config, address)) {
    ::setenv(key.c_str(), value.c_str(), 1);
  }
  return exec(wrapped_argv(*config, command));
}

}  // namespace extension_runner::cli
