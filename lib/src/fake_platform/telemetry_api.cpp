#include "extension_runner/fake_platform/telemetry_api.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/telemetry/subscription.hpp"

namespace extension_runner {
namespace {

const char* api_prefix(TelemetryMode mode) {
  return mode == TelemetryMode::Logs ? "Logs" : "Telemetry";
}

// `http://host:port/path` → host, port, path. Port 0 when absent or not a number.
void split_uri(const std::string& uri, std::string& host, int& port, std::string& path) {
  std::string rest = uri;
  const std::string scheme = "http://";
  if (rest.compare(0, scheme.size(), scheme) == 0) rest = rest.substr(scheme.size());
  const auto slash = rest.find('/');
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string authority = rest.substr(0, slash);
  const auto colon = authority.rfind(':');
  host = authority.substr(0, colon);
  port = 0;
  if (colon == std::string::npos) return;
  const std::string digits = authority.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return;
  }
  port = std::stoi(digits);
  if (port > 65535) port = 0;
}

int64_t buffering_value(const rapidjson::Value* buffering, const char* key, int64_t fallback) {
  if (buffering == nullptr || !buffering->IsObject()) return fallback;
  return json_int64(*buffering, key).value_or(fallback);
}

/** POSTs each batch as a JSON array. */
BatchPoster http_poster(const EmulatedSubscription& sub) {
  auto client = std::make_shared<httplib::Client>(sub.host, sub.port);
  // Headers and body go out in two writes: without NODELAY the body waits for the delayed ACK
  // of the headers (~40 ms on Linux), which would be billed as "post-runtime" time here and is
  // not what the platform does (Go's net/http sets TCP_NODELAY).
  client->set_tcp_nodelay(true);
  client->set_connection_timeout(std::chrono::seconds(2));
  client->set_read_timeout(std::chrono::seconds(10));
  return [client, path = sub.path](const std::vector<std::string>& records) {
    auto res = client->Post(path, TelemetryEmulator::batch(records), "application/json");
    return res ? res->status : -1;
  };
}

/**
 * Writes each batch's records as JSON lines on one connection to 127.0.0.1:port, made at the
 * first batch and again after a failure. A slow reader blocks the write: the batch stays in
 * flight, as the platform's does.
 */
BatchPoster tcp_poster(const EmulatedSubscription& sub) {
  auto connection = std::make_shared<Fd>();
  return [connection, port = sub.port](const std::vector<std::string>& records) {
    if (!connection->valid()) {
      Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (!fd.valid() ||
          ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return -1;
      }
      int yes = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      *connection = std::move(fd);
    }
    std::string lines;
    for (const auto& r : records) (lines += r) += '\n';
    for (size_t done = 0; done < lines.size();) {
      // MSG_NOSIGNAL: a listener that went away is a failed batch, not a SIGPIPE.
      const ssize_t n =
          ::send(connection->get(), lines.data() + done, lines.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        connection->reset();
        return -1;
      }
      done += static_cast<size_t>(n);
    }
    return 200;
  };
}

bool in_range(const rapidjson::Value& buffering, const char* key, int64_t lo, int64_t hi) {
  if (json_member(buffering, key) == nullptr) return true;  // optional, defaulted
  auto v = json_int64(buffering, key);
  return v && *v >= lo && *v <= hi;
}

const char* validation_error_type(TelemetryMode mode) {
  return mode == TelemetryMode::Logs ? "Logs.ValidationError" : "ValidationError";
}

// The subscription as sent: types, destination (TCP port or URI) and buffering, the platform's
// defaults for what is absent [TEL]. Validated by subscription_problems.
EmulatedSubscription read_subscription(TelemetryMode mode, const std::string& identifier,
                                       const std::string& body, const rapidjson::Value& doc) {
  EmulatedSubscription sub;
  sub.mode = mode;
  sub.identifier = identifier;
  sub.body = body;
  sub.schema_version = json_string(doc, "schemaVersion").value_or("");
  if (const auto* types = json_member(doc, "types"); types != nullptr && types->IsArray()) {
    for (const auto& t : types->GetArray()) {
      if (t.IsString()) sub.types.emplace_back(t.GetString(), t.GetStringLength());
    }
  }
  if (const auto* d = json_member(doc, "destination"); d != nullptr && d->IsObject()) {
    sub.tcp = json_string(*d, "protocol") == std::string("TCP");
    if (sub.tcp) {
      const auto port = json_int64(*d, "port").value_or(0);
      sub.port = port > 0 && port <= 65535 ? static_cast<int>(port) : 0;
      sub.host = "127.0.0.1";
    } else {
      sub.uri = json_string(*d, "URI").value_or("");
      split_uri(sub.uri, sub.host, sub.port, sub.path);
    }
  }
  const auto* buffering = json_member(doc, "buffering");
  sub.limits.max_items =
      static_cast<size_t>(buffering_value(buffering, "maxItems", int64_t{10000}));
  sub.limits.max_bytes =
      static_cast<size_t>(buffering_value(buffering, "maxBytes", int64_t{262144}));
  sub.limits.timeout_ms = buffering_value(buffering, "timeoutMs", 1000);
  return sub;
}

// Everything AWS's validation refuses in `sub` ([TEL][LOGS]; RIE's words on Managed Instances),
// "; "-separated; "" when it is valid.
std::string subscription_problems(const EmulatedSubscription& sub,
                                  const rapidjson::Value* buffering, Platform platform) {
  std::string problems;
  const auto add = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  if (sub.tcp && sub.schema_version != kTelemetrySchema) {
    add(std::string("the TCP destination needs schemaVersion ") + kTelemetrySchema);
  }
  if (sub.port == 0) add(sub.tcp ? "port is not provided" : "URI port is not provided");
  if (sub.types.empty()) add("types should not be empty");
  for (const auto& t : sub.types) {
    if (t != "platform" && t != "function" && t != "extension") add("unknown type " + t);
  }
  if (sub.mode == TelemetryMode::Telemetry && sub.schema_version.empty()) {
    add("schemaVersion is required");
  }
  if (buffering != nullptr &&
      (!buffering->IsObject() || !in_range(*buffering, "maxItems", 1000, 10000) ||
       !in_range(*buffering, "maxBytes", 262144, 1048576) ||
       !in_range(*buffering, "timeoutMs", 25, 30000))) {
    add("buffering out of bounds");
  }
  if (platform == Platform::ManagedInstances) {
    if (sub.schema_version != kTelemetrySchema) {
      add(std::string("schema validation error: '/schemaVersion' value must be \"") +
          kTelemetrySchema + "\"");
    }
    if (!sub.tcp && sub.port != 0 && sub.host != "sandbox" && sub.host != "sandbox.localdomain") {
      add("Invalid destination: destination.URI host must be sandbox.localdomain");
    }
  }
  return problems;
}

}  // namespace

TelemetryEmulator::TelemetryEmulator(std::function<bool(const std::string&)> identifier_known,
                                     Platform platform)
    : identifier_known_(std::move(identifier_known)), platform_(platform) {}

void TelemetryEmulator::install(httplib::Server& server) {
  const auto route = [this](TelemetryMode mode) {
    return [this, mode](const httplib::Request& req, httplib::Response& res) {
      auto answer = subscribe(mode, req.get_header_value(kIdentifierHeader), req.body);
      res.status = answer.status;
      res.set_content(answer.body, answer.status == 200 ? "text/plain" : "application/json");
    };
  };
  server.Put(kTelemetryApiPath, route(TelemetryMode::Telemetry));
  // Managed Instances have no Logs API: 404 there, as RIE answers.
  if (platform_ != Platform::ManagedInstances) server.Put(kLogsApiPath, route(TelemetryMode::Logs));
}

TelemetryEmulator::Answer TelemetryEmulator::subscribe(TelemetryMode mode,
                                                       const std::string& identifier,
                                                       const std::string& body) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++calls_;
  const std::string api = api_prefix(mode);
  if (!faults_.empty()) {
    const auto fault = faults_.front();
    faults_.pop_front();
    return fault_answer(fault, mode);
  }
  if (identifier.empty() || !identifier_known_(identifier)) {
    return {403, json_error_object("Extension.UnknownExtensionIdentifier",
                                   "Unknown extension identifier '" + identifier + "'")};
  }
  const std::string validation = validation_error_type(mode);
  auto doc = parse_json(body);
  if (!doc || !doc->IsObject())
    return {400, json_error_object(validation, "body is not a JSON object")};
  EmulatedSubscription sub = read_subscription(mode, identifier, body, *doc);
  const std::string problems =
      subscription_problems(sub, json_member(*doc, "buffering"), platform_);
  if (!problems.empty()) return {400, json_error_object(validation, problems)};
  if (platform_ == Platform::ManagedInstances && subscription_) {
    return {500, json_error_object(api + ".ServiceError", "already subscribed")};
  }
  if (subscription_ && subscription_->mode != mode) {
    return {400, json_error_object(validation, std::string("already subscribed to the ") +
                                                   api_prefix(subscription_->mode) + " API")};
  }
  start_batcher(std::move(sub));
  return {200, "OK"};
}

TelemetryEmulator::Answer TelemetryEmulator::fault_answer(SubscribeFault fault,
                                                          TelemetryMode mode) {
  const std::string api = api_prefix(mode);
  switch (fault) {
    case SubscribeFault::NotSupported:
      return {202, json_error_object(api + ".NotSupported", api + " API is not supported")};
    case SubscribeFault::ValidationError:
      return {400, json_error_object(validation_error_type(mode), "injected validation error")};
    case SubscribeFault::ServerError:
      break;
  }
  return {500, json_error_object(api + ".ServiceError", "injected server error")};
}

void TelemetryEmulator::start_batcher(EmulatedSubscription sub) {
  if (sub.host == "sandbox.localdomain" || sub.host == "sandbox") sub.host = "127.0.0.1";
  BatcherOptions options;
  options.limits = sub.limits;
  options.report_drops =
      std::find(sub.types.begin(), sub.types.end(), "platform") != sub.types.end();
  options.on_batch = batch_observer_;
  batcher_ =
      std::make_shared<TelemetryBatcher>(sub.tcp ? tcp_poster(sub) : http_poster(sub), options);
  subscription_ = std::move(sub);
  subscribed_.notify_all();
}

void TelemetryEmulator::inject(SubscribeFault fault, int times) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int i = 0; i < times; ++i) faults_.push_back(fault);
}

std::optional<EmulatedSubscription> TelemetryEmulator::subscription() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return subscription_;
}

bool TelemetryEmulator::wait_for_subscription(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return subscribed_.wait_for(lock, timeout, [&] { return subscription_.has_value(); });
}

int TelemetryEmulator::subscribe_calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

bool TelemetryEmulator::publish(std::string record_json) {
  std::shared_ptr<TelemetryBatcher> batcher;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (silent_) return false;
    batcher = batcher_;
  }
  if (!batcher) return false;
  batcher->add(std::move(record_json));
  return true;
}

bool TelemetryEmulator::flush(std::chrono::steady_clock::time_point deadline) const {
  std::shared_ptr<TelemetryBatcher> batcher;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batcher = batcher_;
  }
  return batcher ? batcher->flush(deadline) : true;
}

BatcherCounters TelemetryEmulator::batcher_counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batcher_ ? batcher_->counters() : BatcherCounters{};
}

void TelemetryEmulator::set_batch_observer(std::function<void(const BatchOutcome&)> observer) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_observer_ = std::move(observer);
}

void TelemetryEmulator::set_silent(bool silent) {
  std::lock_guard<std::mutex> lock(mutex_);
  silent_ = silent;
}

int TelemetryEmulator::post(const std::string& body) const {
  const auto sub = subscription();
  if (!sub) return -1;
  httplib::Client client(sub->host, sub->port);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(10));
  auto res = client.Post(sub->path, body, "application/json");
  return res ? res->status : -1;
}

int TelemetryEmulator::post_until_accepted(const std::string& body,
                                           std::chrono::milliseconds budget) const {
  const auto give_up = std::chrono::steady_clock::now() + budget;
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    const int status = post(body);
    if (status == 200 || std::chrono::steady_clock::now() + backoff > give_up) return status;
    // Lambda "retries … with backoff" [TEL]; this is that backoff, not a synchronisation.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

std::string TelemetryEmulator::record(const std::string& type, const std::string& record_json) {
  return telemetry_record_json(type, record_json);
}

std::string TelemetryEmulator::start_record(const std::string& request_id) {
  return record("platform.start",
                "{\"requestId\":" + json_quote(request_id) + ",\"version\":\"$LATEST\"}");
}

std::string TelemetryEmulator::runtime_done_record(const std::string& request_id,
                                                   const std::string& status) {
  return record("platform.runtimeDone",
                "{\"requestId\":" + json_quote(request_id) + ",\"status\":" + json_quote(status) +
                    ",\"metrics\":{\"durationMs\":1.5,\"producedBytes\":2}}");
}

std::string TelemetryEmulator::report_record(const std::string& request_id) {
  return record(
      "platform.report",
      "{\"requestId\":" + json_quote(request_id) +
          ",\"status\":\"success\",\"metrics\":{\"durationMs\":1.5,\"billedDurationMs\":2,"
          "\"memorySizeMB\":128,\"maxMemoryUsedMB\":32}}");
}

std::string TelemetryEmulator::function_record(const std::string& text) {
  return record("function", json_quote(text));
}

std::string TelemetryEmulator::batch(const std::vector<std::string>& records) {
  std::string out = "[";
  for (size_t i = 0; i < records.size(); ++i) out += (i ? "," : "") + records[i];
  return out + "]";
}

std::vector<std::string> TelemetryEmulator::init_records(const std::string& initialization_type,
                                                         const std::string& extension_name,
                                                         const std::vector<std::string>& types,
                                                         int64_t init_duration_ms) {
  const std::string init_type = json_quote(initialization_type);
  std::string type_list;
  for (const auto& t : types) type_list += (type_list.empty() ? "" : ",") + json_quote(t);
  return {
      TelemetryEmulator::record("platform.initStart",
                                "{\"initializationType\":" + init_type + ",\"phase\":\"init\"}"),
      TelemetryEmulator::record("platform.telemetrySubscription",
                                "{\"name\":" + json_quote(extension_name) +
                                    ",\"state\":\"Subscribed\",\"types\":[" + type_list + "]}"),
      TelemetryEmulator::record(
          "platform.initRuntimeDone",
          "{\"initializationType\":" + init_type + ",\"phase\":\"init\",\"status\":\"success\"}"),
      TelemetryEmulator::record("platform.initReport",
                                "{\"initializationType\":" + init_type +
                                    ",\"phase\":\"init\",\"status\":\"success\",\"metrics\":{"
                                    "\"durationMs\":" +
                                    std::to_string(init_duration_ms) + "}}"),
  };
}

}  // namespace extension_runner
