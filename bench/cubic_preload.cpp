// LD_PRELOAD shim of the benchmarks: every TCP connection a server accepts is switched to the
// congestion control named by $TOURBUS_BENCH_CC (default cubic). The machines' default, bbr, paces
// even loopback traffic, which makes latency tails erratic and saturates early (bench/README.md);
// the generator and the ceiling set the same on their own sockets. Used for tourbusd and the Node
// peers alike, so every server is measured the same way.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

void tune(int fd) {
  if (fd < 0) return;
  int saved = errno;
  const char* cc = std::getenv("TOURBUS_BENCH_CC");
  if (!cc || !*cc) cc = "cubic";
  // Fails harmlessly (EOPNOTSUPP) on Unix sockets.
  ::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, static_cast<socklen_t>(std::strlen(cc)));
  errno = saved;
}

using accept_fn = int (*)(int, sockaddr*, socklen_t*);
using accept4_fn = int (*)(int, sockaddr*, socklen_t*, int);

}  // namespace

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  static auto real = reinterpret_cast<accept_fn>(dlsym(RTLD_NEXT, "accept"));
  int r = real(fd, addr, len);
  tune(r);
  return r;
}

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  static auto real = reinterpret_cast<accept4_fn>(dlsym(RTLD_NEXT, "accept4"));
  int r = real(fd, addr, len, flags);
  tune(r);
  return r;
}
