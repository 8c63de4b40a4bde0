#pragma once
/**
 * @file routes.hpp
 * Which Runtime API call a request is [RIE internal/lambda/rapi/router.go]:
 * `GET /{version}/runtime/invocation/next`, `POST /{version}/runtime/invocation/{id}/response`,
 * `POST /{version}/runtime/invocation/{id}/error`. Everything else (`/runtime/init/error`,
 * `/runtime/restore/next`, `/runtime/restore/error`, paths added later, other APIs sent here
 * by mistake) is passed through unchanged.
 */
#include <string>
#include <string_view>

namespace extension_runner {

enum class RouteKind { Next, Response, Error, PassThrough };

struct Route {
  RouteKind kind = RouteKind::PassThrough;
  std::string version;     ///< The path's first segment, e.g. `2018-06-01`.
  std::string request_id;  ///< Response / Error: the `{id}` segment, as sent.
};

/** Classifies `method` + request target (a query string is ignored). Pure. */
Route classify_route(std::string_view method, std::string_view target);

/** `/{version}/runtime/invocation/next`. */
std::string next_path(std::string_view version);
/** `/{version}/runtime/invocation/{id}/response`. */
std::string response_path(std::string_view version, std::string_view request_id);
/** `/{version}/runtime/invocation/{id}/error`. */
std::string error_path(std::string_view version, std::string_view request_id);

}  // namespace extension_runner
