#include "extension_runner/proxy/routes.hpp"

#include <vector>

namespace extension_runner {
namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] != '/') return {};  // a target that is not an absolute path
    const size_t end = path.find('/', pos + 1);
    out.push_back(
        path.substr(pos + 1, (end == std::string_view::npos ? path.size() : end) - pos - 1));
    pos = end == std::string_view::npos ? path.size() : end;
  }
  return out;
}

}  // namespace

Route classify_route(std::string_view method, std::string_view target) {
  const auto path = segments(target.substr(0, target.find('?')));
  Route route;
  if (path.size() < 4 || path[0].empty() || path[1] != "runtime" || path[2] != "invocation") {
    return route;
  }
  if (path.size() == 4 && path[3] == "next" && method == "GET") {
    route.kind = RouteKind::Next;
  } else if (path.size() == 5 && !path[3].empty() && method == "POST" && path[4] == "response") {
    route.kind = RouteKind::Response;
  } else if (path.size() == 5 && !path[3].empty() && method == "POST" && path[4] == "error") {
    route.kind = RouteKind::Error;
  } else {
    return route;
  }
  route.version = std::string(path[0]);
  if (route.kind != RouteKind::Next) route.request_id = std::string(path[3]);
  return route;
}

std::string next_path(std::string_view version) {
  return "/" + std::string(version) + "/runtime/invocation/next";
}

std::string response_path(std::string_view version, std::string_view request_id) {
  return "/" + std::string(version) + "/runtime/invocation/" + std::string(request_id) +
         "/response";
}

std::string error_path(std::string_view version, std::string_view request_id) {
  return "/" + std::string(version) + "/runtime/invocation/" + std::string(request_id) + "/error";
}

}  // namespace extension_runner
