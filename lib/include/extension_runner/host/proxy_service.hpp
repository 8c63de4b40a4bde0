#pragma once
/**
 * @file proxy_service.hpp
 * The Runtime API proxy as the host runs it (docs/proxy.md): the server with the child's hooks,
 * started before `/register` (Lambda starts the runtime only after every extension registered
 * [EXT]), its address written for `extension-runner wrap`, stopped at SHUTDOWN with a share of
 * the budget. The extension's own Extensions / Telemetry API calls keep using the real
 * AWS_LAMBDA_RUNTIME_API.
 */
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/host/proxy_hooks.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/proxy/server.hpp"
#include "extension_runner/runner/protocol.hpp"

namespace extension_runner {

/**
 * The child as the proxy needs it: its invoker factory, once the child handler's init() made it
 * (it needs the Register answer), to start the extra hook children with (proxy_hooks.hpp); and
 * the event types it said it handles, so hooks it has no handler for are not asked.
 * child_handler.hpp fills it. Thread-safe: filled on the lifecycle thread (and on whichever
 * thread (re)starts a child), read on runtime connection threads.
 */
class ChildSlot {
 public:
  /** Keeps `factory` for make(). */
  void set(Dispatcher::InvokerFactory factory);
  /** A new invoker from the kept factory; ChildStartupFailed before set(). */
  Result<std::unique_ptr<Invoker>> make() const;

  /** Keeps what a child's startup response says it handles (each start; the latest counts). */
  void note_started(const StartupResponse& response);
  /**
   * Whether the child takes REQUEST (or RESPONSE) events: true until a child answered its
   * startup, and when its answer has no `handles` (a child that does not say); otherwise only
   * when `handles` lists that type or `*` (a catch-all handler); docs/runner-protocol.md.
   */
  bool takes(HookPhase phase) const;

 private:
  mutable std::mutex mutex_;
  Dispatcher::InvokerFactory factory_;
  std::atomic<bool> takes_request_{true};
  std::atomic<bool> takes_response_{true};
};

/** Most extra hook children on Managed Instances, whatever the concurrency says. */
inline constexpr size_t kMaxExtraHookChildren = 15;

/**
 * Where the proxy's `host:port` is written for `wrap`: `$TMPDIR/extension-runner-<name>.proxy`,
 * `/tmp` when TMPDIR is unset or empty (Lambda's writable folder [VARS]).
 */
std::string proxy_address_path(const std::string& name, const EnvLookup& env);

/**
 * The WARN line when `AWS_LAMBDA_EXEC_WRAPPER` is unset or does not end in `/<name>/wrapper`:
 * then the runtime does not go through the proxy [WRAPPER]. nullopt when it does.
 */
std::optional<std::string> exec_wrapper_warning(const std::string& name,
                                                const std::optional<std::string>& exec_wrapper);

/**
 * Extra hook children for concurrent invocations: on Managed Instances
 * `AWS_LAMBDA_MAX_CONCURRENCY` − 1 (at most kMaxExtraHookChildren; 0 when unset or not a
 * number) [LMI]; on Lambda 0, one invocation runs at a time.
 */
size_t extra_hook_children(Platform platform, const std::optional<std::string>& max_concurrency);

/** A file holding one line, written atomically (temporary file + rename), removed on destruction.
 */
class AddressFile {
 public:
  /** Writes `text` to `path`; Io when it cannot. */
  static Result<AddressFile> write(const std::string& path, const std::string& text);
  AddressFile(AddressFile&& other) noexcept;
  AddressFile& operator=(AddressFile&& other) noexcept;
  AddressFile(const AddressFile&) = delete;
  AddressFile& operator=(const AddressFile&) = delete;
  /** Removes the file. */
  ~AddressFile();

 private:
  explicit AddressFile(std::string path) : path_(std::move(path)) {}
  std::string path_;  ///< "" once moved from.
};

class ProxyService {
 public:
  /**
   * The proxy for `config.proxy`, its upstream `config.runtime_api`, its hooks answered by the
   * child behind `dispatcher` (extra hook children made with `slot`, at most `extra_children`).
   */
  ProxyService(const Config& config, std::shared_ptr<Dispatcher> dispatcher,
               const std::shared_ptr<ChildSlot>& slot, size_t extra_children);
  ~ProxyService();
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  /**
   * Binds (ephemeral loopback port) and serves, then writes the address to `address_path`.
   * ConfigInvalid for a bad upstream, ListenerFailed when it cannot bind, Io when the file
   * cannot be written (the server is stopped again).
   */
  Result<HostPort> start(const std::string& address_path);

  /**
   * Stops the server (observe copies may reach the child until `drain_until_ms`, epoch ms) and
   * the extra hook children, removes the address file and logs the counters line. Idempotent.
   */
  void stop(int64_t drain_until_ms);

  /**
   * After an INVOKE, before the next `/next`: waits until the invocation has ended through the
   * proxy and its observe copies reached the child, by the invocation's deadline at the latest
   * (ProxyServer::await_invocation). Off the function's path: its response is out by then.
   */
  void after_invoke(const InvokeEvent& event);

  /** The counters line (describe_counters). */
  std::string counters_line() const;

 private:
  std::shared_ptr<Dispatcher> dispatcher_;  ///< Kept alive while hooks may use it.
  ProxyHooks hooks_;
  ProxyServer server_;  ///< After hooks_: destroyed first, while the hooks still exist.
  std::optional<AddressFile> address_file_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace extension_runner
