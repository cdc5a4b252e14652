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

// The HTTP request for an operation of the API table (lib/api/operations.cpp), by name: its
// method, its route with each {segment} taken out of `params` (percent-encoded), and the other
// params as the JSON body, or with `query`, in the query string (uploads, whose body is the file).
// Fails with `internal` for an operation the table does not have.
struct Request {
  std::string method;
  std::string target;
  boost::json::object body;
};
Result<Request> request_for(std::string_view operation, boost::json::object params, bool query = false);

// An HTTP answer from tourbusd: the JSON document, or the API error it carries (status >= 400).
Result<boost::json::value> decode_answer(unsigned status, const std::string& body);

class Client {
 public:
  explicit Client(std::filesystem::path socket, std::string as = {}) : socket_(std::move(socket)), as_(std::move(as)) {}
  // Calls an operation by name (request_for); the decoded JSON answer, or the API's error
  // (unavailable when tourbusd is unreachable).
  Result<boost::json::value> call(std::string_view operation, boost::json::object params = {});
  // Calls an operation whose answer is a file and writes it to `out` ("-" is standard output).
  Result<std::uint64_t> download(std::string_view operation, boost::json::object params, const std::string& out);
  // Calls an operation whose request body is raw bytes (an upload); the decoded JSON answer.
  Result<boost::json::value> upload(std::string_view operation, boost::json::object params, std::string bytes);
  // Calls an operation whose answer is plain text (metrics).
  Result<std::string> text(std::string_view operation);
  const std::filesystem::path& socket() const { return socket_; }

 private:
  std::filesystem::path socket_;
  std::string as_;
};

}  // namespace tourbus::cli
