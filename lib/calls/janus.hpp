// A client of Janus's HTTP API (docs/previews.md) for its VideoRoom plugin, on loopback: sessions
// with one plugin handle each, synchronous plugin requests (create, destroy, enable_recording),
// and asynchronous ones (join, publish, start, configure) whose event tourbusd long-polls for on
// the session. Blocking (libcurl): run it off the event loop. Thread-safe (no state but the
// settings).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "core/config.hpp"
#include "core/error.hpp"

namespace tourbus::calls {

// A Janus session with the VideoRoom plugin attached.
struct JanusHandle {
  std::uint64_t session = 0, handle = 0;
};

// What an asynchronous request led to: the plugin's data and the JSEP (SDP) it came with, if any.
struct JanusEvent {
  boost::json::object data;
  std::optional<std::string> sdp, sdp_type;
};

class Janus {
 public:
  // From calls.janus_url, calls.janus_api_secret and calls.janus_admin_key.
  explicit Janus(std::shared_ptr<const config::Config> c) : config_(std::move(c)) {}
  bool configured() const { return !config_->calls_janus_url.empty(); }

  Result<JanusHandle> open() const;
  void close(const JanusHandle& h) const;  // best effort: the session and its handle go
  Status keepalive(const JanusHandle& h) const;
  // A synchronous plugin request; the admin key is added to "create". The plugin's answer, or
  // the error Janus gave (unavailable when it cannot be reached).
  Result<boost::json::object> request(const JanusHandle& h, boost::json::object body) const;
  // An asynchronous plugin request with an optional SDP (offer or answer), waiting up to
  // `timeout_ms` for its event.
  Result<JanusEvent> exchange(const JanusHandle& h, boost::json::object body, std::optional<std::string> sdp,
                              const std::string& sdp_type, std::int64_t timeout_ms = 10'000) const;
  // One request on a session of its own, opened and closed around it.
  Result<boost::json::object> once(boost::json::object body) const;

 private:
  Result<boost::json::object> post(const std::string& path, boost::json::object body) const;
  std::shared_ptr<const config::Config> config_;
};

// The VideoRoom error a plugin answer carries, as an Error: 426 (no such room) and 428 (no such
// feed: nobody publishes yet) are unavailable, 433 (unauthorized) is internal.
std::optional<Error> plugin_error(const boost::json::object& data);

}  // namespace tourbus::calls
