// libFuzzer target: what tourbusd decodes of an HTTP request: Beast's request parser set up as the
// daemon sets it up (header and body limits), then the routing of the method and target to an
// operation with its path, query and body parameters, and the parameter check.
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "api/schema.hpp"
#include "net/router.hpp"

namespace http = boost::beast::http;
using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  auto routed = net::route(std::string_view(req.method_string()), std::string_view(req.target()), req.body());
  if (routed) (void)api::check_params(*routed->op, routed->params);
  return 0;
}
