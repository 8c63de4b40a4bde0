// parse_scenario (scenario.hpp): the `emulate --scenario` file.
// Invariants: accepted values are inside their documented ranges; log records are JSON.
#include "extension_runner/debug/scenario.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto scenario = parse_scenario(fuzz::as_text(data, size));
  if (!scenario) {
    FUZZ_CHECK(scenario.error().kind == ErrorKind::InvalidInput);
    return 0;
  }
  FUZZ_CHECK(scenario->invokes >= 0 && scenario->invokes <= 100000);
  FUZZ_CHECK(scenario->spacing_ms >= 0);
  FUZZ_CHECK(scenario->function_timeout_ms >= 1);
  FUZZ_CHECK(scenario->shutdown_budget_ms >= 1);
  for (const auto& record : scenario->log_records_json) FUZZ_CHECK(fuzz::is_json(record));
  for (const auto* fault : {&scenario->register_fault, &scenario->next_fault}) {
    if (*fault) FUZZ_CHECK((*fault)->after >= 0);
  }
  return 0;
}
