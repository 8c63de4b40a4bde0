#include "extension_runner/debug/invoke_mode.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/runner/child_invoker.hpp"
#include "extension_runner/runner/protocol.hpp"

namespace extension_runner {
namespace {

constexpr const char* kLocalArn = "arn:aws:lambda:us-east-1:123456789012:function:local";

Result<std::string> read_input(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path);
  if (!in) return make_error(ErrorKind::InvalidInput, "cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/** The request to send, from --event or --request, plus env for the child. */
struct Prepared {
  InvokeRequest request;
  std::map<std::string, std::string> env;
  int64_t budget_ms = 0;  ///< Deadline = start of each invoke + this.
};

Result<Prepared> prepare(const InvokeModeOptions& options) {
  Prepared p;
  p.budget_ms = options.timeout_ms;
  if (!options.request_path.empty()) {
    auto text = read_input(options.request_path);
    if (!text) return text.error();
    auto proxy = decode_proxy_request(*text);
    if (!proxy) {
      return make_error(ErrorKind::InvalidInput,
                        "--request " + options.request_path + ": " + proxy.error().message);
    }
    p.request.context = proxy->context;
    p.request.event_json = proxy->event_json;
    p.env = proxy->env;
    // A ProxyRequest's `remaining` wins over --timeout.
    if (proxy->remaining_ms > 0) p.budget_ms = proxy->remaining_ms;
  } else {
    auto text = read_input(options.event_path);
    if (!text) return text.error();
    auto doc = parse_json(*text);
    if (!doc) {
      return make_error(ErrorKind::InvalidInput,
                        "--event " + options.event_path + ": " + doc.error().message);
    }
    p.request.event_json = to_json(*doc);
    p.request.context.invoked_function_arn = kLocalArn;
  }
  return p;
}

}  // namespace

int run_invoke_mode(const Config& config, const std::string& name,
                    const InvokeModeOptions& options) {
  auto prepared = prepare(options);
  if (!prepared) {
    std::cerr << "extension-runner invoke: " << prepared.error().message << '\n';
    return kInvokeUsage;
  }
  StartupRequest startup;
  startup.handler = options.handler;
  startup.env = prepared->env;
  startup.name = name;
  startup.mode = "invoke";
  startup.platform = platform_name(config.platform);
  ChildInvokerOptions child_options = child_invoker_options(config.runner, startup);
  child_options.command = options.runtime;
  if (!options.memory_mb.empty()) child_options.memory_size = options.memory_mb;
  ChildInvoker invoker(child_options);
  if (auto started = invoker.start(); !started) {
    std::cerr << "extension-runner invoke: " << error_type(started.error().kind) << ": "
              << started.error().message << '\n';
    return kInvokeUsage;
  }

  std::vector<double> durations;
  int64_t max_used = 0;
  int errors = 0;
  for (int i = 0; i < options.repeat; ++i) {
    InvokeRequest request = prepared->request;
    if (request.context.aws_request_id.empty()) request.context.aws_request_id = random_uuid();
    request.deadline_ms = wall_clock_ms() + prepared->budget_ms;
    auto reply = invoker.invoke(request);
    if (!reply) {
      std::cerr << "extension-runner invoke: " << error_type(reply.error().kind) << ": "
                << reply.error().message << '\n';
      invoker.shutdown(1000);
      return kInvokeUsage;
    }
    auto line = encode_invoke_reply(*reply);
    (void)write_line(STDOUT_FILENO,
                     line ? *line : R"({"errors":true,"errortype":"Runner.ProtocolError"})");
    durations.push_back(reply->billing.duration_ms);
    max_used = std::max(max_used, reply->billing.used_mb);
    errors += reply->errors ? 1 : 0;
  }
  invoker.shutdown(1000);

  if (options.repeat > 1) {
    std::sort(durations.begin(), durations.end());
    char summary[256];
    std::snprintf(
        summary, sizeof summary,
        R"({"summary":{"invokes":%d,"errors":%d,"duration_ms":{"min":%.3f,"median":%.3f,"max":%.3f},"max_used_mb":%lld}})",
        options.repeat, errors, durations.front(), durations[durations.size() / 2],
        durations.back(), static_cast<long long>(max_used));
    (void)write_line(STDOUT_FILENO, summary);
  }
  return errors > 0 ? kInvokeReplyErrors : kInvokeOk;
}

}  // namespace extension_runner
