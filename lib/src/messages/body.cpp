#include "extension_runner/messages/body.hpp"

#include <algorithm>
#include <cctype>

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

std::string lower_trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error invalid(const std::string& where, const Error& error) {
  return make_error(ErrorKind::InvalidInput, where + ": " + error.message);
}

}  // namespace

Result<MessagesFormat> messages_format(std::string_view content_type) {
  const std::string type = lower_trimmed(content_type.substr(0, content_type.find(';')));
  if (type.empty() || type == "application/json") return MessagesFormat::Json;
  if (type == "application/x-ndjson" || type == "application/jsonl") return MessagesFormat::NdJson;
  return make_error(ErrorKind::InvalidInput, "unsupported Content-Type '" +
                                                 std::string(content_type) +
                                                 "' (application/json or application/x-ndjson)");
}

Result<std::vector<std::string>> parse_messages_body(std::string_view body, MessagesFormat format) {
  std::vector<std::string> messages;
  if (format == MessagesFormat::Json) {
    auto document = parse_json(body);
    if (!document) return invalid("body", document.error());
    if (!document->IsArray()) {
      messages.push_back(to_json(*document));
      return messages;
    }
    messages.reserve(document->Size());
    for (const auto& element : document->GetArray()) messages.push_back(to_json(element));
    return messages;
  }
  size_t line_number = 0;
  while (!body.empty()) {
    const size_t end = std::min(body.find('\n'), body.size());
    std::string_view line = body.substr(0, end);
    body.remove_prefix(std::min(end + 1, body.size()));
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto document = parse_json(line);
    if (!document) return invalid("line " + std::to_string(line_number), document.error());
    messages.push_back(to_json(*document));
  }
  return messages;
}

std::string message_record_json(const std::string& request_id, const std::string& time,
                                const std::string& message_json) {
  std::string out;
  out.reserve(message_json.size() + request_id.size() + time.size() + 48);
  out += "{\"requestId\":";
  out += request_id.empty() ? std::string("null") : json_quote(request_id);
  out += ",\"time\":";
  out += json_quote(time);
  out += ",\"message\":";
  out += message_json;
  out += '}';
  return out;
}

}  // namespace extension_runner
