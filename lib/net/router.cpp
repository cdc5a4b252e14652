#include "net/router.hpp"

#include <vector>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "api/schema.hpp"

namespace tourbus::net {
namespace {

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

// Matches route segments ("{handle}" captures) against decoded path segments.
bool match(std::string_view route, const std::vector<std::string>& segs, const api::Operation& op,
           boost::json::object& captured, std::optional<Error>& error) {
  auto parts = split(route);
  if (parts.size() != segs.size()) return false;
  boost::json::object caps;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].front() == '{') {
      auto name = parts[i].substr(1, parts[i].size() - 2);
      const auto* param = api::find_param(op, name);
      auto v = api::from_text(*param, segs[i]);
      if (!v) {
        error = v.error();
        caps[name] = nullptr;
      } else {
        caps[name] = *v;
      }
    } else if (parts[i] != segs[i]) {
      return false;
    }
  }
  captured = std::move(caps);
  return true;
}

}  // namespace

Result<Routed> route(std::string_view method, std::string_view target, std::string_view body) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return Error(Code::bad_request, "malformed request target");
  std::vector<std::string> segs;
  for (auto s : url->segments()) segs.push_back(s);

  Routed routed;
  bool path_matched = false;
  std::optional<Error> capture_error;
  for (const auto& op : api::operations()) {
    boost::json::object caps;
    std::optional<Error> err;
    if (!match(op.route, segs, op, caps, err)) continue;
    path_matched = true;
    if (op.method != method) continue;
    if (err) return *err;
    routed.op = &op;
    routed.params = std::move(caps);
    break;
  }
  if (!routed.op) {
    if (path_matched) return Error(Code::method_not_allowed, std::string(method) + " is not allowed on " + std::string(url->path()));
    return Error(Code::not_found, "no such route: " + std::string(method) + " " + std::string(url->path()));
  }
  const auto& op = *routed.op;

  for (auto qp : url->params()) {
    const auto* param = api::find_param(op, qp.key);
    if (!param)
      return Error(Code::unknown_field, "'" + std::string(qp.key) + "' is not a parameter of " + std::string(op.name),
                   std::string(qp.key));
    if (routed.params.contains(qp.key))
      return Error(Code::invalid_argument, std::string(qp.key) + ": given twice", std::string(qp.key));
    auto v = api::from_text(*param, qp.value);
    if (!v) return v.error();
    routed.params[qp.key] = *v;
  }

  if (op.raw_body) {
    if (routed.params.contains("content"))
      return Error(Code::invalid_argument, "content: send it as the request body, not in the URL", "content");
    if (!body.empty()) routed.params["content"] = boost::json::string(body);
    return routed;
  }
  bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (!blank) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) return Error(Code::invalid_json, "the request body is not valid JSON: " + ec.message());
    if (!v.is_object()) return Error(Code::invalid_json, "the request body must be a JSON object");
    for (auto& [k, val] : v.as_object()) {
      if (routed.params.contains(k))
        return Error(Code::invalid_argument, std::string(k) + ": given twice (URL and body)", std::string(k));
      routed.params[k] = val;
    }
  }
  return routed;
}

}  // namespace tourbus::net
