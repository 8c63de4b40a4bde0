#include "extension_runner/proxy/decision.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy decisions: the reply decides, anything else is invalid", "[proxy]") {
  using Kind = Decision::Kind;
  struct Case {
    const char* what;
    HookReply reply;
    HookPhase phase;
    Kind kind;
    std::string body;        // Replace / Respond / Fail
    bool body_is_json;       // Replace / Respond
    std::string error_type;  // Fail
    std::string reason;      // Invalid: part of the reason
  };
  const auto req = HookPhase::Request;
  const auto res = HookPhase::Response;
  const std::vector<Case> cases = {
      {"null forwards", {"null", "", false}, req, Kind::Forward, "", false, "", ""},
      {"null forwards a response", {"null", "", false}, res, Kind::Forward, "", false, "", ""},
      {"payload replaces",
       {R"({"payload":{"a": 1}})", "", false},
       req,
       Kind::Replace,
       R"({"a":1})",
       true,
       "",
       ""},
      {"payload replaces a response",
       {R"({"payload":"masked"})", "", false},
       res,
       Kind::Replace,
       R"("masked")",
       true,
       "",
       ""},
      {"payload null is a JSON null",
       {R"({"payload":null})", "", false},
       res,
       Kind::Replace,
       "null",
       true,
       "",
       ""},
      {"payloadBase64 replaces with bytes",
       {R"({"payloadBase64":"aGk="})", "", false},
       req,
       Kind::Replace,
       "hi",
       false,
       "",
       ""},
      {"unknown members are ignored",
       {R"({"payload":1,"note":"x"})", "", false},
       req,
       Kind::Replace,
       "1",
       true,
       "",
       ""},
      {"respond answers for the function",
       {R"({"respond":{"statusCode":403}})", "", false},
       req,
       Kind::Respond,
       R"({"statusCode":403})",
       true,
       "",
       ""},
      {"respondBase64",
       {R"({"respondBase64":"AP8="})", "", false},
       req,
       Kind::Respond,
       std::string("\0\xff", 2),
       false,
       "",
       ""},
      {"errors fails with the errortype and the object as body",
       {R"({"errorMessage":"missing field x"})", "Validation.Missing", true},
       req,
       Kind::Fail,
       R"({"errorMessage":"missing field x","errorType":"Validation.Missing"})",
       false,
       "Validation.Missing",
       ""},
      {"an errorType of its own is kept",
       {R"({"errorType":"Own","errorMessage":"m"})", "T", true},
       res,
       Kind::Fail,
       R"({"errorType":"Own","errorMessage":"m"})",
       false,
       "T",
       ""},
      {"a string result is the message",
       {R"("no tenant")", "Tenant.Unknown", true},
       req,
       Kind::Fail,
       R"({"errorType":"Tenant.Unknown","errorMessage":"no tenant"})",
       false,
       "Tenant.Unknown",
       ""},
      {"any other result gets a message",
       {"null", "Blocked", true},
       res,
       Kind::Fail,
       R"({"errorType":"Blocked","errorMessage":"rejected by the extension"})",
       false,
       "Blocked",
       ""},
      {"errortype without errors is ignored",
       {"null", "Ignored", false},
       req,
       Kind::Forward,
       "",
       false,
       "",
       ""},
      // Invalid: the fail policy applies.
      {"errors without errortype",
       {"null", "", true},
       req,
       Kind::Invalid,
       "",
       false,
       "",
       "errortype is empty"},
      {"an errortype that would forge header fields",
       {"null", "T\r\nX-Forged: 1", true},
       req,
       Kind::Invalid,
       "",
       false,
       "",
       "control characters"},
      {"respond on a response",
       {R"({"respond":1})", "", false},
       res,
       Kind::Invalid,
       "",
       false,
       "",
       "REQUEST hook only"},
      {"two bodies",
       {R"({"payload":1,"respond":2})", "", false},
       req,
       Kind::Invalid,
       "",
       false,
       "",
       "both"},
      {"an empty object", {"{}", "", false}, req, Kind::Invalid, "", false, "", "without"},
      {"a bare value", {"true", "", false}, req, Kind::Invalid, "", false, "", "neither"},
      {"an array", {"[]", "", false}, res, Kind::Invalid, "", false, "", "neither"},
      {"bad base64",
       {R"({"payloadBase64":"!!"})", "", false},
       req,
       Kind::Invalid,
       "",
       false,
       "",
       "base64"},
      {"base64 that is not a string",
       {R"({"payloadBase64":1})", "", false},
       req,
       Kind::Invalid,
       "",
       false,
       "",
       "base64"},
      {"result that is not JSON", {"{", "", false}, req, Kind::Invalid, "", false, "", "not JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const Decision d = decide(c.reply, c.phase);
    REQUIRE(d.kind == c.kind);
    switch (c.kind) {
      case Kind::Replace:
      case Kind::Respond:
        CHECK(d.body == c.body);
        CHECK(d.body_is_json == c.body_is_json);
        break;
      case Kind::Fail:
        CHECK(d.body == c.body);
        CHECK(d.error_type == c.error_type);
        break;
      case Kind::Invalid:
        CHECK_THAT(d.reason, Catch::Contains(c.reason));
        break;
      case Kind::Forward:
        break;
    }
  }
  CHECK(error_body_json("A\"B", "m\n") == R"({"errorType":"A\"B","errorMessage":"m\n"})");
}
