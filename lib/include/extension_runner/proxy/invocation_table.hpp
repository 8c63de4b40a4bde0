#pragma once
/**
 * @file invocation_table.hpp
 * The invocations handed to the runtime and not yet answered, by request id: what the RESPONSE
 * hook needs to know about the invocation (its context and deadline) when the runtime's
 * `/response` or `/error` arrives, possibly on another connection (Managed Instances run
 * several at once [LMI]).
 */
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/proxy/http_message.hpp"

namespace extension_runner {

struct InvocationRecord {
  HookContext context;
  std::optional<int64_t> deadline_ms;  ///< `Lambda-Runtime-Deadline-Ms`, epoch ms.
};

class InvocationTable {
 public:
  /**
   * Remembers an invocation. Records whose deadline passed more than a minute ago go (their
   * runtime never answered: it crashed, or Lambda timed the invocation out), so the table stays
   * as small as the invocations really in flight. A record without a deadline counts as due 15
   * minutes (Lambda's longest timeout) after it was added.
   */
  void add(const std::string& request_id, InvocationRecord record, int64_t now_ms);

  /** Takes the record of `request_id` out, if there is one. */
  std::optional<InvocationRecord> take(const std::string& request_id);

  size_t size() const;

 private:
  void sweep(int64_t now_ms);  ///< mutex_ held.

  struct Entry {
    InvocationRecord record;
    int64_t due_ms = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace extension_runner
