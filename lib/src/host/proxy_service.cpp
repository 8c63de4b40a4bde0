#include "extension_runner/host/proxy_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {

ProxyOptions options_for(const Config& config) {
  ProxyOptions options = config.proxy;
  // A bad value is caught by start() through validate_proxy_options, with its own message.
  if (auto upstream = parse_host_port(config.runtime_api, "AWS_LAMBDA_RUNTIME_API")) {
    options.upstream = *upstream;
  }
  return options;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void ChildSlot::set(Dispatcher::InvokerFactory factory) {
  std::lock_guard<std::mutex> lock(mutex_);
  factory_ = std::move(factory);
}

Result<std::unique_ptr<Invoker>> ChildSlot::make() const {
  Dispatcher::InvokerFactory factory;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    factory = factory_;
  }
  if (!factory) return make_error(ErrorKind::ChildStartupFailed, "the child has not started yet");
  return factory();
}

void ChildSlot::note_started(const StartupResponse& response) {
  takes_request_.store(response.takes("REQUEST"), std::memory_order_relaxed);
  takes_response_.store(response.takes("RESPONSE"), std::memory_order_relaxed);
}

bool ChildSlot::takes(HookPhase phase) const {
  return (phase == HookPhase::Request ? takes_request_ : takes_response_)
      .load(std::memory_order_relaxed);
}

std::string proxy_address_path(const std::string& name, const EnvLookup& env) {
  std::string folder = env("TMPDIR").value_or("");
  if (folder.empty()) folder = "/tmp";
  return folder + "/extension-runner-" + name + ".proxy";
}

std::optional<std::string> exec_wrapper_warning(const std::string& name,
                                                const std::optional<std::string>& exec_wrapper) {
  const std::string expected = "/" + name + "/wrapper";
  if (exec_wrapper && ends_with(*exec_wrapper, expected)) return std::nullopt;
  return "the Runtime API proxy is on but AWS_LAMBDA_EXEC_WRAPPER is " +
         (exec_wrapper ? "'" + *exec_wrapper + "'" : std::string("unset")) + ", not /opt" +
         expected + ": the runtime does not go through the proxy (docs/proxy.md)";
}

size_t extra_hook_children(Platform platform, const std::optional<std::string>& max_concurrency) {
  if (platform != Platform::ManagedInstances || !max_concurrency) return 0;
  const std::string& text = *max_concurrency;
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  const size_t n = std::stoul(text);
  return n == 0 ? 0 : std::min(n - 1, kMaxExtraHookChildren);
}

Result<AddressFile> AddressFile::write(const std::string& path, const std::string& text) {
  // Written beside its final name and renamed: `wrap` polls for the file and must never read
  // a half-written address.
  const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text << '\n';
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return make_error(ErrorKind::Io, "cannot write the proxy address file " + temporary);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return make_error(ErrorKind::Io, "cannot rename " + temporary + " to " + path + ": " + why);
  }
  return AddressFile(path);
}

AddressFile::AddressFile(AddressFile&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

AddressFile& AddressFile::operator=(AddressFile&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) std::remove(path_.c_str());
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

AddressFile::~AddressFile() {
  if (!path_.empty()) std::remove(path_.c_str());
}

ProxyService::ProxyService(const Config& config, std::shared_ptr<Dispatcher> dispatcher,
                           const std::shared_ptr<ChildSlot>& slot, size_t extra_children)
    : dispatcher_(std::move(dispatcher)),
      hooks_(
          *dispatcher_, [slot] { return slot->make(); }, extra_children,
          [slot](HookPhase phase) { return slot->takes(phase); }),
      server_(options_for(config), hooks_) {}

ProxyService::~ProxyService() { stop(0); }

Result<HostPort> ProxyService::start(const std::string& address_path) {
  auto bound = server_.start();
  if (!bound) return bound.error();
  auto file = AddressFile::write(address_path, bound->to_string());
  if (!file) {
    server_.stop(0);
    return file.error();
  }
  address_file_ = std::move(*file);
  started_ = true;
  log_info("Runtime API proxy listening on " + bound->to_string() + " (address in " + address_path +
           ")");
  return bound;
}

void ProxyService::stop(int64_t drain_until_ms) {
  if (stopped_) return;
  stopped_ = true;
  // The address goes first: a runtime started from now on runs without the proxy.
  address_file_.reset();
  // A hook holding an invocation would keep the server's stop waiting up to its deadline.
  hooks_.cancel(steady_deadline(drain_until_ms));
  server_.stop(std::max<int64_t>(0, ms_until(drain_until_ms)));
  hooks_.stop(0);
  if (started_) log_info(counters_line());
}

void ProxyService::after_invoke(const InvokeEvent& event) {
  if (!started_ || stopped_) return;
  if (!server_.await_invocation(event.request_id, steady_deadline(event.deadline_ms))) {
    log_debug("proxy: not waiting for invocation " + event.request_id + "'s copies");
  }
}

std::string ProxyService::counters_line() const { return describe_counters(server_.counters()); }

}  // namespace extension_runner
