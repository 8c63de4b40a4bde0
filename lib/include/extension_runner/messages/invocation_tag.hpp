#pragma once
/**
 * @file invocation_tag.hpp
 * Which invocation a message belongs to (docs/messages.md): the `Extension-Runner-Request-Id`
 * header when the function sent one; else, on the standard platform (one invocation at a time
 * per environment [EXT]), the invocation in flight when it arrived; else (Managed Instances,
 * several at once [LMI]) none. Thread-safe: the lifecycle thread sets, HTTP threads read.
 */
#include <mutex>
#include <string>

namespace extension_runner {

inline constexpr const char* kMessagesRequestIdHeader = "Extension-Runner-Request-Id";

class InvocationTag {
 public:
  /** `one_at_a_time`: the standard platform, where the latest INVOKE is the one in flight. */
  explicit InvocationTag(bool one_at_a_time) : one_at_a_time_(one_at_a_time) {}

  /** An INVOKE for `request_id` arrived (the lifecycle thread, before the child sees it). */
  void begin(const std::string& request_id);

  /** The tag for a message with `header` (the header's value, "" when absent); "" = untagged. */
  std::string tag(const std::string& header) const;

 private:
  const bool one_at_a_time_;
  mutable std::mutex mutex_;
  std::string in_flight_;
};

}  // namespace extension_runner
