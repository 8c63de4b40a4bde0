#include "extension_runner/core/uuid.hpp"

#include <catch2/catch.hpp>
#include <cctype>
#include <set>
#include <string>

using namespace extension_runner;

TEST_CASE("uuid: random_uuid is a version-4 RFC 4122 UUID, different each time") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = random_uuid();
    INFO(id);
    REQUIRE(id.size() == 36);
    for (size_t k = 0; k < id.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        CHECK(id[k] == '-');
      } else {
        CHECK((std::isdigit(static_cast<unsigned char>(id[k])) || (id[k] >= 'a' && id[k] <= 'f')));
      }
    }
    CHECK(id[14] == '4');                                          // version
    CHECK(std::string("89ab").find(id[19]) != std::string::npos);  // RFC 4122 variant
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}
