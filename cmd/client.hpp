// The CLI's connection to tourbusd: HTTP/1.1 + JSON over the control socket. The CLI talks only
// to the API; it never opens the database.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.hpp"

namespace tourbus::cli {

struct Globals {
  std::string socket;
  std::string config;
  bool json = false;
  bool quiet = false;
  std::string as;  // --as HANDLE: act as this user (Tourbus-As header)
};

// --socket, $TOURBUS_SOCKET, the config file's server.socket when set (config: --config,
// $TOURBUS_CONFIG or /etc/tourbus/tourbus.toml), /run/tourbus/tourbusd.sock when it exists, the
// config's <state_dir>/tourbusd.sock, then ./tourbus-data/tourbusd.sock.
std::filesystem::path find_socket(const Globals& g);

// A URL path with percent-encoded segments and an optional query: path({"v1","users",h}).
class Target {
 public:
  explicit Target(std::initializer_list<std::string> segments);
  Target& query(std::string_view key, std::string_view value);
  const std::string& str() const { return s_; }

 private:
  std::string s_;
  bool has_query_ = false;
};

// An HTTP answer from tourbusd: the JSON document, or the API error it carries (status >= 400).
Result<boost::json::value> decode_answer(unsigned status, const std::string& body);

class Client {
 public:
  explicit Client(std::filesystem::path socket, std::string as = {}) : socket_(std::move(socket)), as_(std::move(as)) {}
  // Sends one request; the decoded JSON answer, or the API's error (unavailable when unreachable).
  Result<boost::json::value> call(std::string_view method, const Target& target,
                                  std::optional<boost::json::object> body = std::nullopt);
  // Sends one request and writes the answer's body to `out` ("-" is standard output).
  Result<std::uint64_t> download(std::string_view method, const Target& target, const std::string& out);
  // Sends raw bytes as the body (an upload); the decoded JSON answer.
  Result<boost::json::value> upload(const Target& target, std::string bytes);
  // Plain-text answer (metrics).
  Result<std::string> text(std::string_view method, const Target& target);
  const std::filesystem::path& socket() const { return socket_; }

 private:
  std::filesystem::path socket_;
  std::string as_;
};

}  // namespace tourbus::cli
