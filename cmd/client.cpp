#include "client.hpp"

#include "api/operation.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include "core/json.hpp"
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "core/config.hpp"

namespace tourbus::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

std::filesystem::path find_socket(const Globals& g) {
  if (!g.socket.empty()) return g.socket;
  if (const char* env = std::getenv("TOURBUS_SOCKET"); env && *env) return env;
  std::string file = g.config;
  if (file.empty()) {
    if (const char* env = std::getenv("TOURBUS_CONFIG"); env && *env) file = env;
    else if (std::filesystem::exists("/etc/tourbus/tourbus.toml")) file = "/etc/tourbus/tourbus.toml";
  }
  std::optional<config::Config> cfg;
  if (!file.empty()) {
    if (::access(file.c_str(), R_OK) != 0) {
      std::cerr << "tourbus: ignoring " << file << ": " << std::strerror(errno) << "\n";
    } else if (auto loaded = config::load_file(file)) {
      cfg = *loaded;
    } else {
      std::cerr << "tourbus: ignoring " << file << ": " << loaded.error().message << "\n";
    }
  }
  if (cfg && !cfg->socket.empty()) return cfg->socket;
  // Under systemd the unit passes --socket /run/tourbus/tourbusd.sock.
  if (std::filesystem::exists("/run/tourbus/tourbusd.sock")) return "/run/tourbus/tourbusd.sock";
  return (cfg ? *cfg : config::Config{}).socket_path();
}

namespace {

// A parameter's value as URL text: strings as they are, numbers and booleans as JSON writes them.
std::string url_text(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::dump(v);
}

std::string url_encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

}  // namespace

Result<Request> request_for(std::string_view operation, boost::json::object params, bool query) {
  const auto* op = api::find_operation(operation);
  if (!op) return Error(Code::internal, "the CLI asked for '" + std::string(operation) + "', which the API does not have");
  Request r{std::string(op->method), {}, {}};
  std::string_view route = op->route;
  while (!route.empty()) {
    route.remove_prefix(1);  // '/'
    auto seg = route.substr(0, route.find('/'));
    route.remove_prefix(seg.size());
    if (seg.starts_with('{') && seg.ends_with('}')) {
      auto name = seg.substr(1, seg.size() - 2);
      auto it = params.find(name);
      if (it == params.end())
        return Error(Code::internal, std::string(operation) + ": the CLI left out '" + std::string(name) + "'");
      r.target += "/" + url_encode(url_text(it->value()));
      params.erase(it);
    } else {
      r.target += "/" + std::string(seg);
    }
  }
  if (query) {
    char sep = '?';
    for (const auto& [k, v] : params) {
      r.target += sep + url_encode(k) + "=" + url_encode(url_text(v));
      sep = '&';
    }
  } else {
    r.body = std::move(params);
  }
  return r;
}

namespace {

Error unreachable(const std::filesystem::path& socket, const std::string& why) {
  return Error(Code::unavailable, "cannot reach tourbusd at " + socket.string() + " (" + why +
                                      "); start it with 'tourbusd' (or 'systemctl start tourbusd'), or point "
                                      "--socket / TOURBUS_SOCKET at its control socket");
}

Error error_from_answer(unsigned status, const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      const auto& o = e->as_object();
      auto code = code_from_name(o.contains("code") ? std::string(o.at("code").as_string()) : "");
      std::string field = o.contains("field") && o.at("field").is_string() ? std::string(o.at("field").as_string()) : "";
      return Error(code.value_or(Code::internal), o.contains("message") ? std::string(o.at("message").as_string()) : "",
                   field);
    }
  }
  return Error(Code::internal, "unexpected answer from tourbusd: HTTP " + std::to_string(status));
}

struct Connection {
  asio::io_context io;
  beast::basic_stream<local> stream{io};
};

// Connects and sends one request (Connection: close); the caller reads the answer.
Status send(Connection& c, const std::filesystem::path& socket, const std::string& as, std::string_view method,
            const std::string& target, std::string body, std::string_view content_type = "application/json") {
  beast::error_code ec;
  c.stream.socket().connect(local::endpoint(socket.string()), ec);
  if (ec) return unreachable(socket, ec.message());
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "tourbus/" TOURBUS_VERSION);
  if (!as.empty()) req.set(api::kActAsHeader, as);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = std::move(body);
  }
  req.keep_alive(false);
  req.prepare_payload();
  http::write(c.stream, req, ec);
  if (ec) return unreachable(socket, ec.message());
  return {};
}

template <class Body>
Result<http::response<Body>> exchange(const std::filesystem::path& socket, const std::string& as, std::string_view method,
                                      const std::string& target, std::string body,
                                      std::string_view content_type = "application/json") {
  Connection c;
  if (auto st = send(c, socket, as, method, target, std::move(body), content_type); !st) return st.error();
  beast::error_code ec;
  beast::flat_buffer buffer;
  http::response_parser<Body> parser;
  parser.body_limit(boost::none);
  http::read(c.stream, buffer, parser, ec);
  if (ec) return unreachable(socket, "connection lost: " + ec.message());
  return parser.release();
}

}  // namespace

Result<boost::json::value> decode_answer(unsigned status, const std::string& body) {
  if (status >= 400) return error_from_answer(status, body);
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) return Error(Code::internal, "tourbusd sent invalid JSON: " + ec.message());
  return v;
}

Result<boost::json::value> Client::call(std::string_view operation, boost::json::object params) {
  auto req = request_for(operation, std::move(params));
  if (!req) return req.error();
  auto res = exchange<http::string_body>(socket_, as_, req->method, req->target,
                                         req->body.empty() ? "" : json::dump(req->body));
  if (!res) return res.error();
  return decode_answer(res->result_int(), res->body());
}

Result<boost::json::value> Client::upload(std::string_view operation, boost::json::object params, std::string bytes) {
  auto req = request_for(operation, std::move(params), true);
  if (!req) return req.error();
  auto res = exchange<http::string_body>(socket_, as_, req->method, req->target, std::move(bytes), "application/octet-stream");
  if (!res) return res.error();
  return decode_answer(res->result_int(), res->body());
}

Result<std::string> Client::text(std::string_view operation) {
  auto req = request_for(operation, {});
  if (!req) return req.error();
  auto res = exchange<http::string_body>(socket_, as_, req->method, req->target, "");
  if (!res) return res.error();
  if (res->result_int() >= 400) return error_from_answer(res->result_int(), res->body());
  return std::move(res->body());
}

Result<std::uint64_t> Client::download(std::string_view operation, boost::json::object params, const std::string& out) {
  auto req = request_for(operation, std::move(params), true);
  if (!req) return req.error();
  const auto& method = req->method;
  const auto& target = req->target;
  if (out == "-") {
    auto res = exchange<http::string_body>(socket_, as_, method, target, "");
    if (!res) return res.error();
    if (res->result_int() >= 400) return error_from_answer(res->result_int(), res->body());
    std::cout.write(res->body().data(), static_cast<std::streamsize>(res->body().size()));
    std::cout.flush();
    return res->body().size();
  }
  // Streamed to a temporary name beside the target, synced, and renamed only when complete.
  std::string tmp = out + ".partial";
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  Connection c;
  if (auto st = send(c, socket_, as_, method, target, ""); !st) return st.error();
  beast::error_code ec;
  beast::flat_buffer buffer;
  http::response_parser<http::file_body> parser;
  parser.body_limit(boost::none);
  http::read_header(c.stream, buffer, parser, ec);
  if (ec) return unreachable(socket_, "connection lost: " + ec.message());
  if (parser.get().result_int() >= 400) {
    // An error answer is small JSON: read it as text.
    http::response_parser<http::string_body> text(std::move(parser));
    http::read(c.stream, buffer, text, ec);
    return error_from_answer(text.get().result_int(), text.get().body());
  }
  auto old_mask = ::umask(077);  // the copy holds every user's data
  parser.get().body().open(tmp.c_str(), beast::file_mode::write, ec);
  ::umask(old_mask);
  if (ec) return Error(Code::internal, "cannot write " + tmp + ": " + ec.message());
  http::read(c.stream, buffer, parser, ec);
  if (ec) {
    cleanup();
    return unreachable(socket_, "connection lost during the download: " + ec.message());
  }
  parser.get().body().close();
  std::error_code size_ec;
  auto bytes = std::filesystem::file_size(tmp, size_ec);
  int fd = ::open(tmp.c_str(), O_RDONLY);
  bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced) {
    cleanup();
    return Error(Code::internal, "cannot sync " + tmp + " to disk");
  }
  std::error_code rec;
  std::filesystem::rename(tmp, out, rec);
  if (rec) {
    cleanup();
    return Error(Code::internal, "cannot rename " + tmp + " to " + out + ": " + rec.message());
  }
  return bytes;
}

}  // namespace tourbus::cli
