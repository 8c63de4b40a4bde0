#include "extension_runner/proxy/invocation_table.hpp"

#include <iterator>

namespace extension_runner {
namespace {
constexpr int64_t kGraceMs = 60 * 1000;
constexpr int64_t kLongestInvocationMs = 15 * 60 * 1000;
// Sweeping is a scan: only worth it once more records are kept than runtimes usually run.
constexpr size_t kSweepAbove = 64;
}  // namespace

void InvocationTable::add(const std::string& request_id, InvocationRecord record, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= kSweepAbove) sweep(now_ms);
  const int64_t due = record.deadline_ms.value_or(now_ms + kLongestInvocationMs);
  entries_[request_id] = Entry{std::move(record), due};
}

std::optional<InvocationRecord> InvocationTable::take(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(request_id);
  if (it == entries_.end()) return std::nullopt;
  InvocationRecord record = std::move(it->second.record);
  entries_.erase(it);
  return record;
}

size_t InvocationTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void InvocationTable::sweep(int64_t now_ms) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.due_ms + kGraceMs < now_ms ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace extension_runner
