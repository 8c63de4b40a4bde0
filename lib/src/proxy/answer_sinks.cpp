#include "extension_runner/proxy/answer_sinks.hpp"

#include "extension_runner/proxy/chunked.hpp"
#include "extension_runner/proxy/decision.hpp"
#include "extension_runner/proxy/header_mapping.hpp"

namespace extension_runner {

bool RelaySink::on_head(int status, HeaderList headers) {
  status_ = status;
  HeaderList out = end_to_end_headers(headers);
  const auto framing = response_body_framing(status, headers);
  if (framing && framing->kind == BodyFraming::Kind::Length) {
    add_length_framing(out, framing->length);
  } else if (framing && framing->kind == BodyFraming::Kind::None) {
    if (status >= 200 && status != 204 && status != 304) add_length_framing(out, 0);
  } else if (http11_) {
    chunked_ = true;
    add_chunked_framing(out, nullptr);
  } else {
    close_delimited_ = true;
    out.emplace_back("Connection", "close");
  }
  // Written with the first piece of the body (or at finish): one system call, one segment, for
  // the usual small answer.
  pending_head_ = format_response_head(status, out);
  return true;
}

bool RelaySink::on_body(std::string_view data) {
  if (data.empty()) return true;
  started_ = true;
  const std::string head = std::move(pending_head_);
  pending_head_.clear();
  if (!chunked_) return connection_.write({head, data}).ok();
  return connection_.write({head, chunk_size_line(data.size()), data, "\r\n"}).ok();
}

Result<void> RelaySink::finish() {
  started_ = true;
  const std::string head = std::move(pending_head_);
  pending_head_.clear();
  return connection_.write({head, chunked_ ? last_chunk({}) : std::string()});
}

bool HoldingSink::on_head(int status, HeaderList headers) {
  status_ = status;
  headers_ = std::move(headers);
  // Reserve what the upstream announced (within the limit): one allocation for the body.
  const auto framing = response_body_framing(status, headers_);
  if (framing && framing->kind == BodyFraming::Kind::Length && framing->length <= limit_) {
    body_.reserve(static_cast<size_t>(framing->length));
  }
  return true;
}

bool HoldingSink::on_body(std::string_view data) {
  if (overflowed_) return relay_.on_body(data);
  if (body_.size() + data.size() <= limit_) {
    body_.append(data);
    return true;
  }
  overflowed_ = true;
  const bool ok =
      relay_.on_head(status_, headers_) && relay_.on_body(body_) && relay_.on_body(data);
  std::string().swap(body_);
  return ok;
}

Result<void> write_held_answer(RuntimeConnection& connection, int status, const HeaderList& headers,
                               std::string_view body) {
  HeaderList out = end_to_end_headers(headers);
  if (status == 204 || status == 304) return connection.write({format_response_head(status, out)});
  add_length_framing(out, body.size());
  return connection.write({format_response_head(status, out), body});
}

Result<void> write_error_answer(RuntimeConnection& connection, int status,
                                std::string_view error_type, std::string_view message) {
  return write_held_answer(connection, status, {{"Content-Type", "application/json"}},
                           error_body_json(error_type, message));
}

}  // namespace extension_runner
