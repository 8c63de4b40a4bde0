#include "extension_runner/messages/forwarder.hpp"

#include <algorithm>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {

std::string messages_event_json(const TelemetryBatch& batch) {
  std::string out = "{\"eventType\":\"MESSAGES\",\"messages\":[";
  size_t size = out.size() + 2;
  for (const auto& record : batch.records) size += record.raw.size() + 1;
  out.reserve(size);
  bool first = true;
  for (const auto& record : batch.records) {
    if (!first) out += ',';
    first = false;
    out += record.raw;
  }
  out += "]}";
  return out;
}

std::string MessagesCounters::to_line() const {
  return "messages: received=" + std::to_string(received) +
         " delivered=" + std::to_string(delivered) + " refused=" + std::to_string(refused) +
         " dropped=" + std::to_string(dropped) +
         " rejected_requests=" + std::to_string(rejected_requests);
}

MessagesForwarder::MessagesForwarder(const MessagesOptions& options, FlushMode flush,
                                     bool one_at_a_time, BatchSink sink, ForwarderOptions delivery)
    : delivery_options_(delivery),
      sink_(std::move(sink)),
      queue_(options.queue_max_records, options.queue_max_bytes),
      tag_(one_at_a_time),
      strategy_(flush) {}

Result<std::unique_ptr<MessagesForwarder>> MessagesForwarder::start(const MessagesOptions& options,
                                                                    FlushMode flush,
                                                                    bool one_at_a_time,
                                                                    BatchSink sink,
                                                                    ForwarderOptions delivery) {
  std::unique_ptr<MessagesForwarder> self(
      new MessagesForwarder(options, flush, one_at_a_time, std::move(sink), delivery));
  auto endpoint = MessagesEndpoint::start(options, self->queue_, self->tag_);
  if (!endpoint) return endpoint.error();
  self->endpoint_ = std::move(*endpoint);
  self->delivery_ = std::thread([raw = self.get()] { raw->deliver_loop(); });
  log_info("messages endpoint at " + messages_runtime_url(options) + " (port " +
           std::to_string(self->endpoint_->port()) + ")");
  return self;
}

MessagesForwarder::~MessagesForwarder() {
  // The endpoint first: no push after the queue is closed.
  endpoint_.reset();
  queue_.discard_queued();
  queue_.close();
  if (delivery_.joinable()) delivery_.join();
}

void MessagesForwarder::deliver_loop() {
  for (;;) {
    auto batch =
        queue_.pop_batch(delivery_options_.batch_max_records, delivery_options_.batch_max_bytes,
                         std::chrono::steady_clock::now() + std::chrono::hours(1));
    if (batch.empty()) {
      if (queue_.closed()) return;
      continue;
    }
    const int64_t now = wall_clock_ms();
    const int64_t deadline =
        std::min(now + delivery_options_.delivery_timeout_ms, deadline_cap_ms_.load());
    const bool delivered = deadline > now && sink_(messages_event_json(batch), deadline);
    queue_.complete(batch, delivered);
  }
}

void MessagesForwarder::before_invoke(const InvokeEvent& event) { tag_.begin(event.request_id); }

bool MessagesForwarder::after_invoke(const InvokeEvent& event,
                                     std::chrono::steady_clock::time_point received) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(received.time_since_epoch()).count();
  if (!strategy_.should_wait(now_ms)) return true;
  return queue_.wait_until_completed(queue_.counters().received,
                                     steady_deadline(event.deadline_ms));
}

void MessagesForwarder::shutdown(int64_t end_ms) {
  if (shut_down_) return;
  shut_down_ = true;
  deadline_cap_ms_ = end_ms;
  // Refusing new posts first bounds the drain: a function still sending cannot keep it going.
  endpoint_->refuse_new();
  const auto end = steady_deadline(end_ms);
  queue_.wait_until_drained(end);
  queue_.discard_queued();
  // Unconfirmed by the deadline: counted as dropped now, so the line below is final.
  if (!queue_.wait_until_drained(end)) queue_.abandon_in_flight();
  log_info(counters().to_line());
}

MessagesCounters MessagesForwarder::counters() const {
  const auto queue = queue_.counters();
  MessagesCounters c;
  c.received = queue.received;
  c.delivered = queue.delivered;
  c.refused = endpoint_->refused();
  c.dropped = queue.dropped - std::min(queue.dropped, c.refused);
  c.rejected_requests = queue.rejected_requests;
  return c;
}

}  // namespace extension_runner
