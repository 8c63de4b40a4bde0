#include "extension_runner/telemetry/forwarder.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <mutex>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {

using Clock = TelemetryQueue::Clock;

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

BatchSink make_no_child_sink(const TelemetryOptions& options) {
  if (!options.subscribes_to("extension")) return make_json_lines_sink(1);
  // Our stdout is an extension log stream: printing `extension` records would feed them back
  // to us forever [TEL]. They are counted as dropped instead.
  log_warn(
      "no child runtime and 'extension' records subscribed: telemetry is counted, not printed");
  return [](const std::string&, int64_t) { return false; };
}

TelemetryForwarder::TelemetryForwarder(const TelemetryOptions& telemetry, BatchSink sink,
                                       ForwarderOptions options)
    : telemetry_(telemetry),
      options_(options),
      sink_(std::move(sink)),
      queue_(telemetry.queue_max_records, telemetry.queue_max_bytes),
      strategy_(telemetry.flush) {}

TelemetryForwarder::~TelemetryForwarder() { stop_delivery(); }

Result<std::unique_ptr<TelemetryForwarder>> TelemetryForwarder::start(
    const TelemetryOptions& telemetry, const TelemetryContext& context,
    const std::string& identifier, const SubscribeSender& send, BatchSink sink,
    ForwarderOptions options) {
  std::unique_ptr<TelemetryForwarder> self(
      new TelemetryForwarder(telemetry, std::move(sink), options));
  auto listen = listener_options(telemetry);
  if (!listen) return listen.error();
  auto listener = TelemetryListener::start(*listen, self->queue_);
  if (!listener) return listener.error();
  self->listener_.emplace(std::move(*listener));
  self->destination_ = destination_uri(listen->host, self->listener_->port(), context.platform);
  self->delivery_ = std::thread([raw = self.get()] { raw->deliver_loop(); });

  // Only now, with the listener serving, may Lambda start delivering [TEL].
  auto subscription = subscription_from_options(telemetry, self->destination_);
  if (subscription.protocol == TelemetryProtocol::Tcp) {
    subscription.tcp_port = self->listener_->port();
    self->destination_ = "TCP port " + std::to_string(subscription.tcp_port);
  }
  auto response = send(build_subscribe_request(identifier, subscription));
  if (!response) {
    return make_error(
        ErrorKind::SubscribeFailed,
        std::string(telemetry_api_name(telemetry.mode)) +
            " subscription (EXTENSION_RUNNER_TELEMETRY) failed: " + response.error().message);
  }
  auto answer = classify_subscribe_response(telemetry.mode, *response);
  if (!answer) return answer.error();
  if (answer->outcome == SubscribeOutcome::Unavailable) {
    log_warn(answer->message);
    return self;
  }
  self->subscribed_ = true;

  // The flush waits for platform.runtimeDone: without it every INVOKE would wait until its
  // deadline (platform.report only comes after the extensions are done, too late).
  // Only an explicit `invoke` is worth a warning: `adaptive` (the default) simply never waits
  // without `platform`, as `auto` did before it.
  self->may_wait_ = telemetry.flush_may_wait(context.receives_invokes);
  if (telemetry.flush == FlushMode::Invoke && !telemetry.subscribes_to("platform")) {
    log_warn("per-invoke telemetry flush disabled: it needs the 'platform' type subscribed");
  }
  if (self->may_wait_ && subscription.mode == TelemetryMode::Logs &&
      subscription.schema_version == "2020-08-15") {
    log_warn(
        "per-invoke telemetry flush disabled: Logs API schema 2020-08-15 has no "
        "platform.runtimeDone (use 2021-03-18)");
    self->may_wait_ = false;
  }
  log_info(std::string("subscribed to the ") + telemetry_api_name(telemetry.mode) + " at " +
           self->destination_);
  return self;
}

void TelemetryForwarder::deliver_loop() {
  auto last_delivery = Clock::now();
  for (;;) {
    if (telemetry_.flush == FlushMode::Periodic && telemetry_.flush_period_ms > 0) {
      // `periodic,MS`: records gather in the queue (bounded) and go to the child together.
      std::unique_lock<std::mutex> lock(hold_mutex_);
      hold_cv_.wait_until(lock,
                          last_delivery + std::chrono::milliseconds(telemetry_.flush_period_ms),
                          [&] { return hold_released_; });
    }
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
    last_delivery = Clock::now();
  }
}

bool TelemetryForwarder::after_invoke(const InvokeEvent& event, Clock::time_point received) {
  if (!subscribed_ || !may_wait_) return true;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(received.time_since_epoch()).count();
  if (!strategy_.should_wait(now_ms)) {
    ++flush_skipped_;
    return true;
  }
  if (silent_) {
    // Waiting needs evidence that telemetry flows: a batch since the silence began.
    if (queue_.counters().accepted_batches + queue_.counters().refused_batches <=
        silent_since_batches_) {
      ++flush_silent_;
      return false;
    }
    silent_ = false;
  }
  ++flush_waits_;
  const auto evidence_by = received + std::chrono::milliseconds(telemetry_.buffer_timeout_ms +
                                                                options_.evidence_margin_ms);
  const auto outcome =
      queue_.wait_for_invocation(event.request_id, evidence_by, steady_deadline(event.deadline_ms));
  switch (outcome) {
    case TelemetryQueue::InvocationWait::Done:
      return true;
    case TelemetryQueue::InvocationWait::Deadline:
      ++flush_deadline_;
      return false;
    case TelemetryQueue::InvocationWait::Silent:
      break;
  }
  ++flush_silent_;
  silent_ = true;
  const auto c = queue_.counters();
  silent_since_batches_ = c.accepted_batches + c.refused_batches;
  if (!warned_silent_) {
    warned_silent_ = true;
    log_warn("no telemetry for invocation " + event.request_id + " within " +
             std::to_string(telemetry_.buffer_timeout_ms + options_.evidence_margin_ms) +
             " ms of its INVOKE: not waiting for telemetry at /next until records flow again "
             "(counted as flush_silent; this warning is not repeated)");
  }
  return false;
}

TelemetryCounters TelemetryForwarder::counters() const {
  TelemetryCounters c = queue_.counters();
  c.flush_waits = flush_waits_;
  c.flush_skipped = flush_skipped_;
  c.flush_silent = flush_silent_;
  c.flush_deadline = flush_deadline_;
  return c;
}

void TelemetryForwarder::shutdown(int64_t end_ms) {
  if (shut_down_) return;
  shut_down_ = true;
  deadline_cap_ms_ = end_ms;
  {
    std::lock_guard<std::mutex> lock(hold_mutex_);
    hold_released_ = true;  // SHUTDOWN: whatever periodic holds goes now
  }
  hold_cv_.notify_all();
  const auto end = steady_deadline(end_ms);
  const auto quiet = std::chrono::milliseconds(
      options_.quiet_period_ms > 0 ? options_.quiet_period_ms : telemetry_.buffer_timeout_ms + 50);
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
  // Unconfirmed by the deadline: counted as dropped now, so the counters line below is final
  // even if the child still takes that batch.
  if (!idle) queue_.abandon_in_flight();
  queue_.close();
  if (idle && delivery_.joinable()) delivery_.join();
  // The host's peak RSS (what the queue bound caps) and CPU so far (README, Telemetry).
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto cpu_ms = [](const timeval& t) { return int64_t{t.tv_sec} * 1000 + t.tv_usec / 1000; };
  log_info(counters().to_line() + " peak_rss_kb=" + std::to_string(usage.ru_maxrss) +
           " cpu_ms=" + std::to_string(cpu_ms(usage.ru_utime) + cpu_ms(usage.ru_stime)));
}

void TelemetryForwarder::stop_delivery() {
  {
    std::lock_guard<std::mutex> lock(hold_mutex_);
    hold_released_ = true;
  }
  hold_cv_.notify_all();
  if (listener_) listener_->stop();
  queue_.discard_queued();
  queue_.close();
  if (delivery_.joinable()) delivery_.join();
}

}  // namespace extension_runner
