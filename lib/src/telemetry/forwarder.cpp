#include "extension_runner/telemetry/forwarder.hpp"

#include <algorithm>
#include <mutex>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {

using Clock = TelemetryQueue::Clock;

bool has_type(const Config& config, const std::string& type) {
  return std::find(config.telemetry_types.begin(), config.telemetry_types.end(), type) !=
         config.telemetry_types.end();
}

}  // namespace

std::string telemetry_event_json(const TelemetryBatch& batch) {
  std::string out;
  out.reserve(batch.bytes + batch.records.size() + 40);
  out += R"({"eventType":"TELEMETRY","records":[)";
  for (size_t i = 0; i < batch.records.size(); ++i) {
    if (i > 0) out += ',';
    out += batch.records[i].raw;
  }
  out += "]}";
  return out;
}

BatchSink make_json_lines_sink(int fd) {
  return [fd](const std::string& event_json, int64_t) { return write_line(fd, event_json).ok(); };
}

BatchSink make_no_child_sink(const Config& config) {
  if (!has_type(config, "extension")) return make_json_lines_sink(1);
  // Our stdout is an extension log stream: printing `extension` records would feed them back
  // to us forever [TEL]. They are counted as dropped instead.
  log_warn(
      "no child runtime and 'extension' records subscribed: telemetry is counted, not printed");
  return [](const std::string&, int64_t) { return false; };
}

TelemetryForwarder::TelemetryForwarder(const Config& config, BatchSink sink,
                                       ForwarderOptions options)
    : config_(config),
      options_(options),
      sink_(std::move(sink)),
      queue_(config.queue_max_records, config.queue_max_bytes) {}

TelemetryForwarder::~TelemetryForwarder() { stop_delivery(); }

Result<std::unique_ptr<TelemetryForwarder>> TelemetryForwarder::start(const Config& config,
                                                                      const std::string& identifier,
                                                                      const SubscribeSender& send,
                                                                      BatchSink sink,
                                                                      ForwarderOptions options) {
  std::unique_ptr<TelemetryForwarder> self(
      new TelemetryForwarder(config, std::move(sink), options));
  auto listen = listener_options(config);
  if (!listen) return listen.error();
  auto listener = TelemetryListener::start(*listen, self->queue_);
  if (!listener) return listener.error();
  self->listener_.emplace(std::move(*listener));
  self->destination_ = destination_uri(listen->host, self->listener_->port());
  self->delivery_ = std::thread([raw = self.get()] { raw->deliver_loop(); });

  // Only now, with the listener serving, may Lambda start delivering [TEL].
  const auto subscription = subscription_from_config(config, self->destination_);
  auto response = send(build_subscribe_request(identifier, subscription));
  if (!response) {
    return make_error(
        ErrorKind::SubscribeFailed,
        std::string(telemetry_api_name(config.telemetry)) +
            " subscription (EXTENSION_RUNNER_TELEMETRY) failed: " + response.error().message);
  }
  auto answer = classify_subscribe_response(config.telemetry, *response);
  if (!answer) return answer.error();
  if (answer->outcome == SubscribeOutcome::Unavailable) {
    log_warn(answer->message);
    return self;
  }
  self->subscribed_ = true;

  // The flush waits for platform.runtimeDone: without it every INVOKE would wait until its
  // deadline (platform.report only comes after the extensions are done, too late).
  self->flush_per_invoke_ = config.flush_per_invoke();
  if (self->flush_per_invoke_ && !has_type(config, "platform")) {
    log_warn("per-invoke telemetry flush disabled: it needs the 'platform' type subscribed");
    self->flush_per_invoke_ = false;
  }
  if (self->flush_per_invoke_ && subscription.mode == TelemetryMode::Logs &&
      subscription.schema_version == "2020-08-15") {
    log_warn(
        "per-invoke telemetry flush disabled: Logs API schema 2020-08-15 has no "
        "platform.runtimeDone (use 2021-03-18)");
    self->flush_per_invoke_ = false;
  }
  log_info(std::string("subscribed to the ") + telemetry_api_name(config.telemetry) + " at " +
           self->destination_);
  return self;
}

void TelemetryForwarder::deliver_loop() {
  for (;;) {
    auto batch = queue_.pop_batch(options_.batch_max_records, options_.batch_max_bytes,
                                  Clock::now() + std::chrono::hours(1));
    if (batch.empty()) {
      if (queue_.closed()) return;
      continue;
    }
    const int64_t now = wall_clock_ms();
    const int64_t deadline = std::min(now + options_.delivery_timeout_ms, deadline_cap_ms_.load());
    const bool delivered = deadline > now && sink_(telemetry_event_json(batch), deadline);
    queue_.complete(batch, delivered);
  }
}

bool TelemetryForwarder::after_invoke(const InvokeEvent& event) {
  if (!subscribed_ || !flush_per_invoke_) return true;
  return queue_.wait_for_runtime_done(event.request_id, steady_deadline(event.deadline_ms));
}

void TelemetryForwarder::shutdown(int64_t deadline_ms) {
  if (shut_down_) return;
  shut_down_ = true;
  const int64_t end_ms = deadline_ms - options_.shutdown_reserve_ms;
  deadline_cap_ms_ = end_ms;
  const auto end = steady_deadline(end_ms);
  const auto quiet = std::chrono::milliseconds(
      options_.quiet_period_ms > 0 ? options_.quiet_period_ms : config_.buffer_timeout_ms + 50);
  if (subscribed_) {
    while (Clock::now() < end) {
      // Read the batch count first, so a batch landing while we drain is not missed.
      const uint64_t seen = queue_.counters().accepted_batches;
      if (!queue_.wait_until_drained(end)) break;
      if (!queue_.wait_for_batch_after(seen, std::min(Clock::now() + quiet, end))) break;
    }
  }
  if (listener_) listener_->stop();
  queue_.discard_queued();
  // A sink call started before shutdown may run past `end` (its deadline was set earlier);
  // then the thread is joined by the destructor, after the caller has ended the child.
  const bool idle = queue_.wait_until_drained(end);
  queue_.close();
  if (idle && delivery_.joinable()) delivery_.join();
  log_info(queue_.counters().to_line());
}

void TelemetryForwarder::stop_delivery() {
  if (listener_) listener_->stop();
  queue_.discard_queued();
  queue_.close();
  if (delivery_.joinable()) delivery_.join();
}

}  // namespace extension_runner
