// loadgen: the load generator of the tourbus benchmarks (bench/README.md).
//
// One single-threaded process on raw Asio sockets: the WebSocket client is a few hundred lines
// here, not a library. Client frames are encoded once per connection at start-up (masked with the
// all-zero key, so the payload bytes stay as written) and only the 16-digit send timestamp is
// patched in before each send; a connection's frames of one tick go out in one write. Received
// frames are parsed in place and only scanned for the timestamp, so a delivery costs the
// generator far less than it costs any server it loads.
//
// The same load is offered to five kinds of server (--proto):
//   tourbus           /v1/ws, Authorization: Bearer TOKEN; "message.send" → "message" push + "reply"
//   tourbus-socketio  tourbusd's Socket.IO (docs/socketio.md): /socket.io/?EIO=4&transport=websocket,
//                     the token in the CONNECT packet 40{"token":...}; 421["message.send",{...}] →
//                     42["message",{...}(,"M-N")] at every member + 431[{"event":"reply",...}]
//   ws                the Node peer bench/peers/ws_server.js, same frames as tourbus, group from ?g=
//   socketio          the Node peer bench/peers/socketio_server.js, Engine.IO v4 over WebSocket
//   raw               bench/ceiling: frames forwarded unchanged, no reply
// Both Socket.IO modes answer the server's Engine.IO pings (text frame "2") with "3".
// Each message text starts with "@T" and the send time in microseconds (16 digits); a delivery is
// a frame holding it that is not the sender's reply; its latency is receive time − send time.
//
// Scenarios (one JSON object per result line on stdout, progress on stderr):
//   idle     open every connection, report the connect rate, hold them until stdin closes
//   fanout   members publish at a fixed total rate, stepped up until the server saturates, then
//            once more at half the saturation rate: deliveries/s and latency percentiles; with
//            --equal-rate, one more step at that rate (the same for every server), and with
//            --server-pid, the server's CPU time per delivery in every step
//   durable  every connection keeps --window messages unacknowledged: acknowledged messages/s
//            and send→acknowledgement latency
//   burst    one message to a group of all the connections: time until the last member has it
//   sink     an HTTP/1.1 server answering 200 to every request (the webhook sink of the queue
//            scenario); prints the request count when stdin closes
//
// --conns FILE lists the connections, one per line: GROUP [TOKEN]. Every socket is set to TCP
// congestion control cubic (bench/README.md says why) and TCP_NODELAY, and the connections are
// spread over --sources loopback addresses 127.0.0.1, 127.0.0.2, ...
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

const Clock::time_point kEpoch = Clock::now();
std::uint64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - kEpoch).count();
}

enum class Proto { tourbus, tourbus_socketio, ws, socketio, raw };

// Engine.IO v4 over a WebSocket: the tourbusd Socket.IO mode and the socket.io peer.
bool engineio(Proto p) { return p == Proto::socketio || p == Proto::tourbus_socketio; }

struct Options {
  std::string scenario;
  Proto proto = Proto::tourbus;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string conns_file;
  int sources = 8;
  double rate = 1000;        // fanout: first step, messages/s offered by all members together
  double factor = 1.5;       // fanout: each step offers this much more
  double seconds = 3;        // length of a fanout step or of the durable run
  int max_steps = 14;
  int server_pid = 0;        // fanout: whose CPU time (/proc/PID/stat) each step reports, if any
  double equal_rate = 0;     // fanout: one last step at this rate, the same for every server (0: none)
  int window = 4;            // durable: unacknowledged messages per connection
  int repeat = 5;            // burst
  std::size_t text_bytes = 64;
  int connect_parallel = 512;
};

void set_socket_options(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const char cubic[] = "cubic";
  ::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cubic, sizeof cubic - 1);
}

// A client frame: FIN + text, masked with the zero key so the payload stays readable in place.
std::string client_frame(std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x81));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xff));
  }
  f.append(4, '\0');  // masking key 0
  f.append(payload);
  return f;
}

// User + system CPU seconds of a process, all its threads (/proc/PID/stat); -1 if unreadable.
double cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto paren = all.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(all.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15: utime, stime (clock ticks)
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void write_digits(char* at, std::uint64_t v) {
  for (int i = 15; i >= 0; --i) {
    at[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// The send time after the first "@T" in a frame, if any.
std::optional<std::uint64_t> stamp_in(std::string_view s) {
  auto p = s.find("@T");
  if (p == std::string_view::npos || p + 18 > s.size()) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = p + 2; i < p + 18; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};
Percentiles percentiles(std::vector<std::uint32_t>& v) {
  Percentiles p;
  if (v.empty()) return p;
  auto at = [&](double q) {
    auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k] / 1000.0;
  };
  p.p50 = at(0.5);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = *std::max_element(v.begin(), v.end()) / 1000.0;
  return p;
}

class Generator;

struct Conn {
  Conn(asio::io_context& io, std::int64_t g, std::string t) : sock(io), group(g), token(std::move(t)) {}
  tcp::socket sock;
  std::int64_t group;
  std::string token;
  std::size_t index = 0;
  std::string frame;           // this connection's pre-encoded message frame
  std::size_t stamp_at = 0;    // where the 16 timestamp digits go in `frame`
  std::vector<char> in = std::vector<char>(4096);
  std::size_t in_len = 0;
  std::string out, writing;
  bool write_pending = false, dirty = false;
  bool upgraded = false, ready = false, dead = false;
  int unacked = 0;
};

class Generator {
 public:
  explicit Generator(Options o) : o_(std::move(o)), tick_(io_) {}

  void load_conns() {
    std::ifstream in(o_.conns_file);
    if (!in) throw std::runtime_error("cannot read --conns " + o_.conns_file);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::int64_t g;
      std::string token;
      if (!(ls >> g)) continue;
      ls >> token;
      auto c = std::make_unique<Conn>(io_, g, token == "-" ? "" : token);
      c->index = conns_.size();
      group_size_[g] += 1;
      conns_.push_back(std::move(c));
    }
    if (conns_.empty()) throw std::runtime_error("no connections in " + o_.conns_file);
    for (auto& c : conns_) encode_frame(*c);
  }

  // Opens every connection (at most connect_parallel handshakes at a time); runs the loop until
  // all are ready or one failed.
  void connect_all() {
    target_ = tcp::endpoint(asio::ip::make_address(o_.host), static_cast<unsigned short>(o_.port));
    auto t0 = now_us();
    next_connect_ = 0;
    for (int i = 0; i < o_.connect_parallel && next_connect_ < conns_.size(); ++i) start_connect(*conns_[next_connect_++]);
    run_until([&] { return ready_ + failed_ == conns_.size(); });
    connect_seconds_ = static_cast<double>(now_us() - t0) / 1e6;
    if (failed_) {
      std::fprintf(stderr, "loadgen: %zu of %zu connections failed (%s)\n", failed_, conns_.size(), first_failure_.c_str());
      std::exit(2);
    }
    std::fprintf(stderr, "loadgen: %zu connections ready in %.2f s\n", conns_.size(), connect_seconds_);
  }

  int idle() {
    connect_all();
    std::printf("{\"scenario\":\"idle\",\"connections\":%zu,\"connect_seconds\":%.3f,\"connects_per_second\":%.0f}\n",
                conns_.size(), connect_seconds_, static_cast<double>(conns_.size()) / connect_seconds_);
    std::fflush(stdout);
    // Hold the connections (answering pings) until stdin closes.
    std::thread([this] {
      std::string l;
      while (std::getline(std::cin, l)) {
      }
      asio::post(io_, [this] { stop_ = true; });
    }).detach();
    run_until([&] { return stop_; });
    std::size_t alive = 0;
    for (auto& c : conns_) alive += c->ready && !c->dead;
    std::printf("{\"scenario\":\"idle\",\"still_open\":%zu}\n", alive);
    return 0;
  }

  int fanout() {
    connect_all();
    // Warm-up: every session attached and every path exercised before anything is measured.
    run_step(std::min(o_.rate, 200.0), 1.0, false);
    double best = 0, best_rate = 0;
    double rate = o_.rate;
    for (int i = 0; i < o_.max_steps; ++i) {
      auto r = run_step(rate, o_.seconds, true);
      if (r.achieved > best) {
        best = r.achieved;
        best_rate = r.achieved / mean_group_;
      }
      if (r.saturated) break;
      rate *= o_.factor;
    }
    // Half of the saturation rate: the latency an operator would see with headroom to spare.
    auto half = run_step(best_rate / 2, o_.seconds, true, "half");
    // The same load for every server: what a delivery costs each (its CPU time depends on the rate).
    StepResult equal;
    if (o_.equal_rate > 0) equal = run_step(o_.equal_rate, o_.seconds, true, "equal");
    std::printf("{\"scenario\":\"fanout\",\"summary\":true,\"max_deliveries_per_second\":%.0f,"
                "\"half_rate_msgs\":%.0f,\"half_p50_ms\":%.3f,\"half_p99_ms\":%.3f,\"half_p999_ms\":%.3f,"
                "\"half_server_us_per_delivery\":%.3f,\"equal_rate_msgs\":%.0f,\"equal_saturated\":%s,"
                "\"equal_p99_ms\":%.3f,\"equal_server_us_per_delivery\":%.3f}\n",
                best, best_rate / 2, half.lat.p50, half.lat.p99, half.lat.p999, half.server_us_per_delivery,
                o_.equal_rate, equal.saturated ? "true" : "false", equal.lat.p99, equal.server_us_per_delivery);
    return 0;
  }

  int durable() {
    connect_all();
    // Warm-up, then the measured run from a clean count.
    auto run = [&](double secs, bool report) {
      acks_ = 0;
      ack_lat_.clear();
      delivery_lat_.clear();
      auto t0 = now_us();
      sending_ = true;
      for (auto& c : conns_)
        for (int i = 0; i < o_.window; ++i) send_message(*c);
      flush_dirty();
      tick_.expires_after(std::chrono::microseconds(static_cast<long>(secs * 1e6)));
      tick_.async_wait([this](boost::system::error_code) { sending_ = false; });
      run_until([&] { return !sending_; });
      auto window_acks = acks_;
      auto t1 = now_us();
      // Let the messages in flight finish before the next run.
      auto deadline = now_us() + 10'000'000;
      run_until([&] {
        std::size_t open = 0;
        for (auto& c : conns_) open += static_cast<std::size_t>(c->unacked);
        return open == 0 || now_us() > deadline;
      }, true);
      if (!report) return;
      auto secs_run = static_cast<double>(t1 - t0) / 1e6;
      auto lat = percentiles(ack_lat_);
      auto dl = percentiles(delivery_lat_);
      std::printf("{\"scenario\":\"durable\",\"connections\":%zu,\"window\":%d,\"seconds\":%.2f,\"acked\":%zu,"
                  "\"acked_per_second\":%.0f,\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"ack_p999_ms\":%.3f,"
                  "\"delivery_p50_ms\":%.3f,\"delivery_p99_ms\":%.3f,\"errors\":%zu}\n",
                  conns_.size(), o_.window, secs_run, window_acks, static_cast<double>(window_acks) / secs_run,
                  lat.p50, lat.p99, lat.p999, dl.p50, dl.p99, errors_);
      std::fflush(stdout);
    };
    durable_ = true;
    run(1.0, false);
    run(o_.seconds, true);
    return 0;
  }

  int burst() {
    connect_all();
    auto members = conns_.size();
    std::vector<double> last_ms, p50_ms;
    for (int r = 0; r < o_.repeat + 1; ++r) {  // the first one warms up
      delivery_lat_.clear();
      deliveries_ = 0;
      auto sent = now_us();
      send_message(*conns_[static_cast<std::size_t>(r) % conns_.size()]);
      flush_dirty();
      std::uint64_t last = 0;
      auto deadline = sent + 30'000'000;
      run_until([&] { return deliveries_ >= members || now_us() > deadline; }, true);
      last = last_delivery_us_;
      if (deliveries_ < members) {
        std::fprintf(stderr, "loadgen: burst %d: %zu of %zu members got it\n", r, deliveries_, members);
        return 3;
      }
      if (r == 0) continue;
      last_ms.push_back(static_cast<double>(last - sent) / 1000.0);
      p50_ms.push_back(percentiles(delivery_lat_).p50);
    }
    std::sort(last_ms.begin(), last_ms.end());
    std::sort(p50_ms.begin(), p50_ms.end());
    std::printf("{\"scenario\":\"burst\",\"members\":%zu,\"repeats\":%d,\"last_member_ms_median\":%.3f,"
                "\"last_member_ms_max\":%.3f,\"member_p50_ms_median\":%.3f}\n",
                members, o_.repeat, last_ms[last_ms.size() / 2], last_ms.back(), p50_ms[p50_ms.size() / 2]);
    return 0;
  }

 private:
  struct StepResult {
    double achieved = 0;
    bool saturated = false;
    Percentiles lat;
    double server_us_per_delivery = -1;  // the server's CPU time per delivery, with --server-pid
  };

  // Offers `rate` messages/s for `secs`, waits for the deliveries (up to a deadline) and reports.
  StepResult run_step(double rate, double secs, bool report, const char* label = "step") {
    auto cpu0 = o_.server_pid ? cpu_seconds(o_.server_pid) : -1;
    step_start_ = now_us();
    deliveries_ = 0;
    expected_ = 0;
    delivery_lat_.clear();
    std::uint64_t sent = 0;
    auto end = step_start_ + static_cast<std::uint64_t>(secs * 1e6);
    sending_ = true;
    std::size_t window_deliveries = 0;
    std::function<void()> tick = [&] {
      auto now = now_us();
      auto until = std::min(now, end);
      auto due = static_cast<std::uint64_t>(rate * static_cast<double>(until - step_start_) / 1e6);
      for (; sent < due; ++sent) {
        auto& c = *conns_[rr_++ % conns_.size()];
        if (c.dead) continue;
        send_message(c);
        expected_ += group_size_[c.group];
      }
      flush_dirty();
      if (now >= end) {
        sending_ = false;
        window_deliveries = deliveries_;
        return;
      }
      tick_.expires_after(std::chrono::microseconds(500));
      tick_.async_wait([&](boost::system::error_code ec) {
        if (!ec) tick();
      });
    };
    tick();
    run_until([&] { return !sending_; });
    // Deliveries still arriving count for latency but not for the rate within the window.
    auto drain_deadline = now_us() + 5'000'000;
    run_until([&] { return deliveries_ >= expected_ || now_us() > drain_deadline; }, true);
    StepResult r;
    r.achieved = static_cast<double>(window_deliveries) / secs;
    double offered = rate * mean_group_;
    bool drained = deliveries_ >= expected_;
    r.saturated = r.achieved < 0.9 * offered || !drained;
    r.lat = percentiles(delivery_lat_);
    // The server's CPU for the step's messages: from the first send until all were delivered.
    if (cpu0 >= 0 && drained && deliveries_ > 0)
      r.server_us_per_delivery = (cpu_seconds(o_.server_pid) - cpu0) * 1e6 / static_cast<double>(deliveries_);
    if (!drained) {
      // Let the backlog go before anything else is measured; the latency above stays as measured.
      auto deadline = now_us() + 60'000'000;
      run_until([&] { return deliveries_ >= expected_ || now_us() > deadline; }, true);
    }
    if (report) {
      std::printf("{\"scenario\":\"fanout\",\"label\":\"%s\",\"offered_msgs_per_second\":%.0f,"
                  "\"offered_deliveries_per_second\":%.0f,\"deliveries_per_second\":%.0f,\"expected\":%zu,"
                  "\"delivered\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
                  "\"saturated\":%s,\"errors\":%zu,\"server_us_per_delivery\":%.3f}\n",
                  label, rate, offered, r.achieved, expected_, deliveries_, r.lat.p50, r.lat.p99, r.lat.p999,
                  r.lat.max, r.saturated ? "true" : "false", errors_, r.server_us_per_delivery);
      std::fflush(stdout);
      std::fprintf(stderr, "loadgen: %s %.0f msgs/s offered → %.0f deliveries/s, p99 %.2f ms%s\n", label, rate,
                   r.achieved, r.lat.p99, r.saturated ? " (saturated)" : "");
    }
    return r;
  }

  // Runs the event loop until done() holds (checked after every handler, or every 2 ms if poll).
  void run_until(const std::function<bool()>& done, bool poll = false) {
    asio::steady_timer poller(io_);
    std::function<void()> arm = [&] {
      poller.expires_after(std::chrono::milliseconds(2));
      poller.async_wait([&](boost::system::error_code ec) {
        if (!ec) arm();
      });
    };
    if (poll) arm();
    while (!done()) {
      if (io_.stopped()) io_.restart();
      io_.run_one();
    }
    poller.cancel();
    io_.poll();
  }

  void encode_frame(Conn& c) {
    std::string pad(o_.text_bytes > 19 ? o_.text_bytes - 19 : 1, 'x');
    std::string text = "@T0000000000000000 " + pad;
    std::string payload;
    auto g = std::to_string(c.group);
    switch (o_.proto) {
      case Proto::socketio:
      case Proto::tourbus_socketio:  // ack id 1 on every request: the answer is told apart by its stamp
        payload = "421[\"message.send\",{\"conversation\":" + g + ",\"text\":\"" + text + "\"}]";
        break;
      default:
        payload = "{\"event\":\"message.send\",\"data\":{\"conversation\":" + g + ",\"text\":\"" + text + "\"}}";
    }
    c.frame = client_frame(payload);
    c.stamp_at = c.frame.size() - payload.size() + payload.find("@T") + 2;
  }

  void send_message(Conn& c) {
    if (c.dead) return;
    auto at = c.out.size();
    c.out += c.frame;
    write_digits(c.out.data() + at + c.stamp_at, now_us());
    ++c.unacked;
    mark_dirty(c);
  }

  void send_raw(Conn& c, std::string_view bytes) {
    c.out.append(bytes);
    mark_dirty(c);
  }

  void mark_dirty(Conn& c) {
    if (!c.dirty) {
      c.dirty = true;
      dirty_.push_back(&c);
    }
  }

  void flush_dirty() {
    for (auto* c : dirty_) {
      c->dirty = false;
      if (!c->write_pending) start_write(*c);
    }
    dirty_.clear();
  }

  void start_write(Conn& c) {
    if (c.out.empty() || c.dead) return;
    c.writing.swap(c.out);
    c.out.clear();
    c.write_pending = true;
    asio::async_write(c.sock, asio::buffer(c.writing), [this, &c](boost::system::error_code ec, std::size_t) {
      c.write_pending = false;
      c.writing.clear();
      if (ec) return fail(c, "write: " + ec.message());
      start_write(c);
    });
  }

  void start_connect(Conn& c) {
    boost::system::error_code ec;
    c.sock.open(tcp::v4(), ec);
    if (ec) return fail(c, "socket: " + ec.message());
    set_socket_options(c.sock.native_handle());
    int one = 1;
    ::setsockopt(c.sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    auto src = asio::ip::address_v4(0x7f000001u + static_cast<unsigned>(c.index % static_cast<std::size_t>(o_.sources)));
    c.sock.bind(tcp::endpoint(src, 0), ec);
    if (ec) return fail(c, "bind: " + ec.message());
    c.sock.async_connect(target_, [this, &c](boost::system::error_code ec) {
      if (ec) return fail(c, "connect: " + ec.message());
      std::string path;
      auto g = std::to_string(c.group);
      switch (o_.proto) {
        case Proto::tourbus: path = "/v1/ws?g=" + g; break;
        case Proto::socketio: path = "/socket.io/?EIO=4&transport=websocket&g=" + g; break;
        case Proto::tourbus_socketio: path = "/socket.io/?EIO=4&transport=websocket"; break;
        default: path = "/ws?g=" + g;
      }
      std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n";
      if (!c.token.empty() && o_.proto == Proto::tourbus) req += "Authorization: Bearer " + c.token + "\r\n";
      req += "\r\n";
      send_raw(c, req);
      flush_dirty();
      start_read(c);
    });
  }

  void became_ready(Conn& c) {
    if (c.ready) return;
    c.ready = true;
    ++ready_;
    if (next_connect_ < conns_.size()) start_connect(*conns_[next_connect_++]);
  }

  void fail(Conn& c, const std::string& why) {
    if (c.dead) return;
    c.dead = true;
    boost::system::error_code ignored;
    c.sock.close(ignored);
    if (!c.ready) {
      ++failed_;
      if (first_failure_.empty()) first_failure_ = why;
      if (next_connect_ < conns_.size()) start_connect(*conns_[next_connect_++]);
    } else if (!stop_) {
      ++closed_;
      if (closed_ <= 3) std::fprintf(stderr, "loadgen: connection %zu lost: %s\n", c.index, why.c_str());
    }
  }

  void start_read(Conn& c) {
    if (c.in.size() - c.in_len < 1024) c.in.resize(c.in.size() * 2);
    c.sock.async_read_some(asio::buffer(c.in.data() + c.in_len, c.in.size() - c.in_len),
                           [this, &c](boost::system::error_code ec, std::size_t n) {
                             if (ec) return fail(c, "read: " + ec.message());
                             c.in_len += n;
                             if (!consume(c)) return;
                             flush_dirty();
                             start_read(c);
                           });
  }

  // Parses what has arrived; false when the connection was given up.
  bool consume(Conn& c) {
    std::size_t pos = 0;
    const char* d = c.in.data();
    if (!c.upgraded) {
      std::string_view s(d, c.in_len);
      auto end = s.find("\r\n\r\n");
      if (end == std::string_view::npos) return true;
      if (s.substr(0, 12) != "HTTP/1.1 101") {
        fail(c, "upgrade refused: " + std::string(s.substr(0, s.find("\r\n"))));
        return false;
      }
      c.upgraded = true;
      pos = end + 4;
      if (!engineio(o_.proto)) became_ready(c);  // Engine.IO: once the namespace is joined
    }
    while (c.in_len - pos >= 2) {
      auto b0 = static_cast<unsigned char>(d[pos]), b1 = static_cast<unsigned char>(d[pos + 1]);
      std::size_t len = b1 & 0x7f, hdr = 2;
      if (len == 126) {
        if (c.in_len - pos < 4) break;
        len = (static_cast<std::size_t>(static_cast<unsigned char>(d[pos + 2])) << 8) |
              static_cast<unsigned char>(d[pos + 3]);
        hdr = 4;
      } else if (len == 127) {
        if (c.in_len - pos < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(d[pos + 2 + static_cast<std::size_t>(i)]);
        hdr = 10;
      }
      if (c.in_len - pos < hdr + len) {
        if (hdr + len > c.in.size()) c.in.resize(hdr + len + 4096);
        break;
      }
      std::string_view payload(d + pos + hdr, len);
      pos += hdr + len;
      switch (b0 & 0x0f) {
        case 0x1:
        case 0x2:
          on_text(c, payload);
          if (c.dead) return false;
          break;
        case 0x9: {  // ping: pong with the same payload
          std::string pong = client_frame(payload);
          pong[0] = static_cast<char>(0x8a);
          send_raw(c, pong);
          break;
        }
        case 0x8: fail(c, "closed by the server"); return false;
        default: break;
      }
    }
    std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
    c.in_len -= pos;
    return true;
  }

  void on_text(Conn& c, std::string_view p) {
    bool reply = false;
    if (engineio(o_.proto)) {
      static const std::string pong = client_frame("3");
      if (p == "2") return send_raw(c, pong);
      if (p.starts_with("42[\"message\",")) {
        // a push: a delivery, below
      } else if (p.starts_with("43")) {
        // an ack: 43N[{"event":"reply",...}] from tourbusd (or {"event":"error",...}), 43N[{...}] from the peer
        auto args = p.find('[');
        if (args != std::string_view::npos && p.substr(args).starts_with("[{\"event\":\"error\"")) return count_error(p);
        reply = true;
      } else if (p.starts_with("0{")) {  // the open packet: join the default namespace
        return send_raw(c, c.token.empty() ? client_frame("40") : client_frame("40{\"token\":\"" + c.token + "\"}"));
      } else if (p.starts_with("40")) {
        return became_ready(c);
      } else if (p.starts_with("44")) {
        return fail(c, "connect refused: " + std::string(p.substr(0, 300)));
      } else if (o_.proto == Proto::tourbus_socketio && p.starts_with("42[\"") && !p.starts_with("42[\"error\"")) {
        return;  // another push (presence, ...): not a delivery
      } else {
        return count_error(p);
      }
    } else {
      if (p.starts_with("{\"event\":\"reply\"")) reply = true;
      else if (p.starts_with("{\"event\":\"error\"")) return count_error(p);
    }
    auto stamp = stamp_in(p);
    if (!stamp) return;
    auto now = now_us();
    if (reply) {
      --c.unacked;
      if (durable_) {
        ack_lat_.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(now - *stamp, UINT32_MAX)));
        ++acks_;
        if (sending_) send_message(c);
      }
      return;
    }
    if (*stamp < step_start_) return;  // left over from an earlier step
    ++deliveries_;
    last_delivery_us_ = now;
    delivery_lat_.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(now - *stamp, UINT32_MAX)));
  }

  void count_error(std::string_view p) {
    if (++errors_ <= 3) std::fprintf(stderr, "loadgen: server said: %.*s\n", static_cast<int>(std::min<std::size_t>(p.size(), 300)), p.data());
  }

 public:
  void compute_mean_group() {
    double sum = 0;
    for (auto& c : conns_) sum += static_cast<double>(group_size_[c->group]);
    mean_group_ = sum / static_cast<double>(conns_.size());
  }

 private:
  Options o_;
  asio::io_context io_{1};
  asio::steady_timer tick_;
  tcp::endpoint target_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::int64_t, std::size_t> group_size_;
  std::vector<Conn*> dirty_;
  std::size_t next_connect_ = 0, ready_ = 0, failed_ = 0, closed_ = 0, rr_ = 0;
  std::string first_failure_;
  double connect_seconds_ = 0, mean_group_ = 1;
  bool stop_ = false, sending_ = false, durable_ = false;
  std::uint64_t step_start_ = 0, last_delivery_us_ = 0;
  std::size_t deliveries_ = 0, expected_ = 0, acks_ = 0, errors_ = 0;
  std::vector<std::uint32_t> delivery_lat_, ack_lat_;
};

// The webhook sink: HTTP/1.1 keep-alive, 200 with an empty body to every request.
class Sink {
 public:
  Sink(const std::string& host, int port) : acceptor_(io_, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port))) {}

  int run() {
    std::printf("{\"sink\":\"ready\",\"port\":%d}\n", acceptor_.local_endpoint().port());
    std::fflush(stdout);
    accept();
    std::thread([this] {
      std::string l;
      while (std::getline(std::cin, l)) {
      }
      asio::post(io_, [this] { io_.stop(); });
    }).detach();
    io_.run();
    std::printf("{\"sink\":\"done\",\"requests\":%zu}\n", requests_);
    return 0;
  }

 private:
  struct Peer {
    explicit Peer(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::string in;
    std::string out;
    char buf[16384];
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (!ec) {
        set_socket_options(s.native_handle());
        auto p = std::make_shared<Peer>(std::move(s));
        read(p);
      }
      accept();
    });
  }

  void read(std::shared_ptr<Peer> p) {
    p->sock.async_read_some(asio::buffer(p->buf), [this, p](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      p->in.append(p->buf, n);
      std::string out;
      for (;;) {
        auto end = p->in.find("\r\n\r\n");
        if (end == std::string::npos) break;
        std::string_view head(p->in.data(), end);
        std::size_t length = 0;
        // Content-Length, any case
        for (std::size_t at = 0; (at = head.find("\r\n", at)) != std::string_view::npos; at += 2) {
          auto line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
          if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
            auto v = line.substr(15);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            std::from_chars(v.data(), v.data() + v.size(), length);
          } else if (line.size() >= 20 && strncasecmp(line.data(), "expect: 100-continue", 20) == 0 &&
                     p->in.size() < end + 4 + length) {
            out += "HTTP/1.1 100 Continue\r\n\r\n";
          }
        }
        if (p->in.size() < end + 4 + length) break;
        p->in.erase(0, end + 4 + length);
        ++requests_;
        out += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      }
      if (out.empty()) return read(p);
      p->out = std::move(out);
      asio::async_write(p->sock, asio::buffer(p->out), [this, p](boost::system::error_code ec, std::size_t) {
        if (!ec) read(p);
      });
    });
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::size_t requests_ = 0;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: loadgen idle|fanout|durable|burst --proto tourbus|tourbus-socketio|ws|socketio|raw --port P --conns FILE\n"
               "               [--host 127.0.0.1] [--sources 8] [--rate 1000] [--factor 1.5] [--seconds 3]\n"
               "               [--max-steps 14] [--window 4] [--repeat 5] [--text-bytes 64]\n"
               "               [--server-pid PID] [--equal-rate MSGS]\n"
               "       loadgen sink --port P [--host 127.0.0.1]\n"
               "See bench/README.md.\n");
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  Options o;
  o.scenario = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (k == "--proto") {
      if (v == "tourbus") o.proto = Proto::tourbus;
      else if (v == "tourbus-socketio") o.proto = Proto::tourbus_socketio;
      else if (v == "ws") o.proto = Proto::ws;
      else if (v == "socketio") o.proto = Proto::socketio;
      else if (v == "raw") o.proto = Proto::raw;
      else usage();
    } else if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::stoi(v);
    else if (k == "--conns") o.conns_file = v;
    else if (k == "--sources") o.sources = std::max(1, std::stoi(v));
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--factor") o.factor = std::stod(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--max-steps") o.max_steps = std::stoi(v);
    else if (k == "--server-pid") o.server_pid = std::stoi(v);
    else if (k == "--equal-rate") o.equal_rate = std::stod(v);
    else if (k == "--window") o.window = std::stoi(v);
    else if (k == "--repeat") o.repeat = std::max(1, std::stoi(v));
    else if (k == "--text-bytes") o.text_bytes = static_cast<std::size_t>(std::stoul(v));
    else usage();
  }
  // Every connection is a file descriptor: take the whole allowance.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  try {
    if (o.scenario == "sink") return Sink(o.host, o.port).run();
    if (o.port <= 0 || o.conns_file.empty()) usage();
    Generator g(o);
    g.load_conns();
    g.compute_mean_group();
    if (o.scenario == "idle") return g.idle();
    if (o.scenario == "fanout") return g.fanout();
    if (o.scenario == "durable") return g.durable();
    if (o.scenario == "burst") return g.burst();
    usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
