// ceiling: the raw ceiling of the tourbus chat benchmarks, see bench/README.md.
//
//   ceiling --port P [--host 127.0.0.1] --mode send|coalesce      (port 0 = any free port)
//
// The most a WebSocket fan-out server could do on this machine, with no application logic at
// all: one thread, epoll (level-triggered), non-blocking POSIX sockets, OpenSSL only for the
// handshake's SHA-1 and base64. Each connection joins the group given by `?g=<integer>` in its
// request target (default 0, the path is not checked). Every text or binary message a client
// sends is framed once, unmasked and unchanged, and delivered to every member of the sender's
// group, the sender included. Pings are answered with pongs, close frames with a close frame.
//
// Two ways of writing, so the benchmark can show what batching is worth:
//   send      one send() per delivery, straight away; only what the socket does not take is
//             buffered (order kept: while a buffer is pending, later frames queue behind it)
//   coalesce  deliveries are appended to the member's buffer, and after all the events of one
//             epoll_wait each touched connection gets ONE send(): one write per socket per turn
//
// Prints `ready port=<P> mode=<mode>` once listening; on SIGTERM/SIGINT prints
// `deliveries=<frames forwarded>` and exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kReadBuffer = 64 * 1024;     // per connection, allocated uninitialized (RSS only when touched)
constexpr size_t kMaxHandshake = 4096;        // requests are < 2 KB
constexpr uint64_t kMaxFrame = 16 << 20;      // larger frames close the connection
constexpr int kMaxEvents = 1024;

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Conn {
  int fd = -1;
  bool open = false;      // handshake done, member of a group
  bool dead = false;      // closed; freed by Reap() after the current batch
  bool dirty = false;     // in the coalesce list of this turn
  bool want_out = false;  // EPOLLOUT armed: out holds bytes the socket did not take
  std::unique_ptr<char[]> in;
  size_t in_cap = 0, in_len = 0;
  std::string out;
  std::vector<Conn*>* members = nullptr;  // unordered_map nodes are stable
  size_t slot = 0;                        // index in *members
  uint64_t group = 0;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// XORs the payload with the client's mask key, eight bytes at a time.
void Unmask(char* p, size_t n, const unsigned char* key) {
  uint32_t k32;
  std::memcpy(&k32, key, 4);
  if (k32 == 0) return;
  uint64_t k64 = (static_cast<uint64_t>(k32) << 32) | k32;
  size_t i = 0;
  for (uint64_t v; i + 8 <= n; i += 8) {
    std::memcpy(&v, p + i, 8);
    v ^= k64;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 3]);
}

int Ctl(int ep, int op, int fd, uint32_t events, void* ptr) {
  epoll_event ev{.events = events, .data = {.ptr = ptr}};
  return epoll_ctl(ep, op, fd, &ev);
}

class Server {
 public:
  Server(int epfd, int listen_fd, bool coalesce) : ep_(epfd), lfd_(listen_fd), coalesce_(coalesce) {}

  void Run(const sigset_t* run_mask) {
    epoll_event events[kMaxEvents];
    while (!g_stop) {
      int n = epoll_pwait(ep_, events, kMaxEvents, -1, run_mask);  // signals only delivered in here
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_wait");
        return;
      }
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<Conn*>(events[i].data.ptr);
        if (!c) {
          Accept();
          continue;
        }
        if (c->dead) continue;
        if (events[i].events & EPOLLOUT) Flush(c);
        if (!c->dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnReadable(c);
      }
      for (Conn* c : dirty_) {  // coalesce: one write per touched socket per turn
        c->dirty = false;
        if (!c->dead && !c->want_out) Flush(c);
      }
      dirty_.clear();
      Reap();
    }
  }

  uint64_t deliveries() const { return deliveries_; }

 private:
  void Accept() {
    for (int k = 0; k < 256; ++k) {
      int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or out of descriptors: level-triggered, retried next turn
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);  // failure is harmless
      auto* c = new Conn;
      c->fd = fd;
      c->in.reset(new char[c->in_cap = kReadBuffer]);
      if (Ctl(ep_, EPOLL_CTL_ADD, fd, EPOLLIN, c) < 0) {
        close(fd);
        delete c;
      }
    }
  }

  void Kill(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    dead_.push_back(c);
  }

  // Frees the connections closed during the batch; only here are groups changed, so a delivery
  // loop never sees its member vector move under it.
  void Reap() {
    for (Conn* c : dead_) {
      if (c->members) {
        auto& m = *c->members;
        m[c->slot] = m.back();
        m[c->slot]->slot = c->slot;
        m.pop_back();
        if (m.empty()) groups_.erase(c->group);
      }
      close(c->fd);  // also leaves the epoll set
      delete c;
    }
    dead_.clear();
  }

  void SetWantOut(Conn* c, bool on) {
    if (c->want_out == on) return;
    c->want_out = on;
    if (Ctl(ep_, EPOLL_CTL_MOD, c->fd, on ? EPOLLIN | EPOLLOUT : EPOLLIN, c) < 0) Kill(c);
  }

  // send() with EAGAIN counted as nothing written; kills the connection on a real error.
  size_t Send(Conn* c, const char* p, size_t n) {
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EAGAIN && errno != EINTR) Kill(c);
    return 0;
  }

  // Writes as much of c->out as the socket takes; the rest waits for EPOLLOUT.
  void Flush(Conn* c) {
    size_t n = c->out.empty() ? 0 : Send(c, c->out.data(), c->out.size());
    if (c->dead) return;
    c->out.erase(0, n);  // keeps the capacity
    SetWantOut(c, !c->out.empty());
  }

  // send: write now unless bytes are already waiting; coalesce: buffer for the end of the turn.
  void Queue(Conn* c, const std::string& bytes) {
    if (!coalesce_ && c->out.empty()) {
      size_t n = Send(c, bytes.data(), bytes.size());
      if (n < bytes.size() && !c->dead) {
        c->out.append(bytes, n);
        SetWantOut(c, true);
      }
      return;
    }
    c->out.append(bytes);
    if (coalesce_ && !c->dirty) {
      c->dirty = true;
      dirty_.push_back(c);
    }
  }

  // Builds an unmasked server frame into the reused frame_ buffer.
  const std::string& Frame(int opcode, const char* payload, size_t len) {
    size_t hl = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;  // 7-, 16- or 64-bit length
    unsigned char h[10] = {static_cast<unsigned char>(0x80 | opcode),
                           static_cast<unsigned char>(hl == 2 ? len : hl == 4 ? 126 : 127)};
    for (size_t i = 2; i < hl; ++i) h[i] = static_cast<unsigned char>(static_cast<uint64_t>(len) >> (8 * (hl - 1 - i)));
    frame_.assign(reinterpret_cast<const char*>(h), hl);
    frame_.append(payload, len);
    return frame_;
  }

  void OnReadable(Conn* c) {
    ssize_t n = recv(c->fd, c->in.get() + c->in_len, c->in_cap - c->in_len, 0);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      return Kill(c);
    }
    c->in_len += static_cast<size_t>(n);
    if (!c->open && !Handshake(c)) return;
    Frames(c);
  }

  // Answers the upgrade request once it is complete and joins the group; false while incomplete.
  bool Handshake(Conn* c) {
    std::string_view buf(c->in.get(), c->in_len);
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (c->in_len >= kMaxHandshake) Kill(c);
      return false;
    }
    std::string_view req = buf.substr(0, end + 2), key;
    size_t eol = req.find("\r\n");
    std::string_view line = req.substr(0, eol);
    if (!line.starts_with("GET ")) return Kill(c), false;
    line.remove_prefix(4);
    std::string_view target = line.substr(0, line.find(' '));
    uint64_t g = 0;
    if (size_t q = target.find('?'); q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        if (param.starts_with("g=")) std::from_chars(param.data() + 2, param.data() + param.size(), g);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      }
    }
    for (size_t pos = eol + 2; pos < req.size();) {
      size_t next = req.find("\r\n", pos);
      std::string_view header = req.substr(pos, next - pos);
      pos = next + 2;
      size_t colon = header.find(':');
      std::string_view name = Trim(header.substr(0, colon));
      if (colon != std::string_view::npos && name.size() == 17 && !strncasecmp(name.data(), "sec-websocket-key", 17)) {
        key = Trim(header.substr(colon + 1));
      }
    }
    if (key.empty() || key.size() > 64) return Kill(c), false;
    char material[64 + 36];
    std::memcpy(material, key.data(), key.size());
    std::memcpy(material + key.size(), "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(material), key.size() + 36, digest);
    unsigned char accept[32];
    EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
    frame_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    frame_ += reinterpret_cast<const char*>(accept);
    frame_ += "\r\n\r\n";
    Queue(c, frame_);
    size_t used = end + 4;
    std::memmove(c->in.get(), c->in.get() + used, c->in_len - used);
    c->in_len -= used;
    c->open = true;
    c->group = g;
    c->members = &groups_[g];
    c->slot = c->members->size();
    c->members->push_back(c);
    return !c->dead;
  }

  // Handles every complete frame in the input buffer and keeps the incomplete rest.
  void Frames(Conn* c) {
    size_t pos = 0, need = 0;
    while (!c->dead) {
      auto* p = reinterpret_cast<unsigned char*>(c->in.get()) + pos;
      size_t avail = c->in_len - pos;
      if (avail < 2) break;
      bool fin = p[0] & 0x80;
      int op = p[0] & 0x0F;
      if ((p[0] & 0x70) || !(p[1] & 0x80)) return Kill(c);  // reserved bits, or unmasked
      uint64_t len = p[1] & 0x7F;
      size_t hl = len == 126 ? 4 : len == 127 ? 10 : 2;
      if (avail < hl) break;
      if (hl > 2) len = 0;
      for (size_t i = 2; i < hl; ++i) len = (len << 8) | p[i];  // big-endian 16- or 64-bit length
      if (len > kMaxFrame) return Kill(c);
      hl += 4;  // mask key
      if (avail < hl + len) {
        need = hl + len;
        break;
      }
      char* payload = reinterpret_cast<char*>(p + hl);
      Unmask(payload, len, p + hl - 4);
      pos += hl + len;
      if ((op & 0x8) && (!fin || len > 125)) return Kill(c);
      if (op == 0x1 || op == 0x2) {
        if (!fin) return Kill(c);  // clients never fragment
        const std::string& frame = Frame(op, payload, len);
        for (Conn* m : *c->members) {
          if (m->dead) continue;
          Queue(m, frame);
          ++deliveries_;
        }
      } else if (op == 0x9) {
        Queue(c, Frame(0xA, payload, len));
      } else if (op == 0x8) {
        Queue(c, Frame(0x8, payload, len));
        if (!c->dead) Flush(c);
        return Kill(c);
      } else if (op != 0xA) {
        return Kill(c);  // continuation without a start, or an unknown opcode
      }
    }
    if (c->dead) return;
    std::memmove(c->in.get(), c->in.get() + pos, c->in_len - pos);
    c->in_len -= pos;
    if (need > c->in_cap) {  // one frame larger than the buffer
      std::unique_ptr<char[]> bigger(new char[need]);
      std::memcpy(bigger.get(), c->in.get(), c->in_len);
      c->in = std::move(bigger);
      c->in_cap = need;
    }
  }

  int ep_, lfd_;
  bool coalesce_;
  uint64_t deliveries_ = 0;
  std::string frame_;
  std::vector<Conn*> dirty_, dead_;
  std::unordered_map<uint64_t, std::vector<Conn*>> groups_;
};

int Usage() {
  std::fprintf(stderr, "usage: ceiling --port P [--host 127.0.0.1] --mode send|coalesce\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", mode = "coalesce";
  int port = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view opt = argv[i];
    if (opt == "--port") port = std::atoi(argv[i + 1]);
    else if (opt == "--host") host = argv[i + 1];
    else if (opt == "--mode") mode = argv[i + 1];
    else return Usage();
  }
  if (argc % 2 == 0 || port < 0 || port > 65535 || (mode != "send" && mode != "coalesce")) return Usage();

  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // SIGTERM/SIGINT stay blocked except inside epoll_pwait, so a stop request is never missed.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t block, run_mask;
  sigemptyset(&block);
  for (int sig : {SIGTERM, SIGINT}) {
    struct sigaction sa{};
    sa.sa_handler = OnSignal;  // no SA_RESTART: epoll_pwait returns EINTR
    sigaction(sig, &sa, nullptr);
    sigaddset(&block, sig);
  }
  sigprocmask(SIG_BLOCK, &block, &run_mask);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return Usage();
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  socklen_t alen = sizeof addr;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(lfd, sa, sizeof addr) < 0 || listen(lfd, 65535) < 0 || getsockname(lfd, sa, &alen) < 0 ||
      Ctl(ep, EPOLL_CTL_ADD, lfd, EPOLLIN, nullptr) < 0) {  // the listener is the null pointer
    std::perror("listen");
    return 1;
  }
  std::printf("ready port=%d mode=%s\n", ntohs(addr.sin_port), mode.c_str());
  std::fflush(stdout);

  Server server(ep, lfd, mode == "coalesce");
  server.Run(&run_mask);
  std::printf("deliveries=%llu\n", static_cast<unsigned long long>(server.deliveries()));
  std::fflush(stdout);
  return 0;
}
