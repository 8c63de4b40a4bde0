#include "extension_runner/proxy/invocation_table.hpp"

#include <catch2/catch.hpp>

using namespace extension_runner;

TEST_CASE("proxy invocation table: take once; unanswered records expire", "[proxy]") {
  InvocationTable table;
  const int64_t now = 1'700'000'000'000;
  InvocationRecord record;
  record.context.aws_request_id = "a";
  record.deadline_ms = now + 1000;
  table.add("a", record, now);
  REQUIRE(table.take("a").has_value());
  CHECK_FALSE(table.take("a").has_value());
  CHECK_FALSE(table.take("never").has_value());

  // Runtimes that never answered: gone once their deadline is a minute past, when the table
  // grows; records still due stay.
  for (int i = 0; i < 100; ++i) {
    InvocationRecord r;
    r.deadline_ms = now + (i < 50 ? 0 : 10 * 60 * 1000);
    table.add("r" + std::to_string(i), r, now);
  }
  table.add("late", InvocationRecord{}, now + 2 * 60 * 1000);
  CHECK(table.size() == 51);
  CHECK(table.take("r99").has_value());
  CHECK_FALSE(table.take("r0").has_value());
}
