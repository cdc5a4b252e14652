// The translation runner: one loop on the daemon's event loop that reads the text messages
// committed since its cursor (and the retries that are due), works out which languages each one's
// readers want, translates on its own worker threads (translate.workers) so the event loop and
// the original's delivery never wait, stores each translation and pushes "message.translated" to
// the readers of that language. A failed translation waits in translation_jobs with backoff; an
// unsupported pair is said once per conversation ("translation.unavailable").
#pragma once

#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/config.hpp"
#include "core/events.hpp"
#include "core/time.hpp"
#include "schedule/wake_loop.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"
#include "translate/translator.hpp"

namespace tourbus::translate {

class Runner {
 public:
  using Clock = std::function<timeutil::Millis()>;

  Runner(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
         Translator& translator, events::Sink& events, Clock clock);
  ~Runner();

  // When this loop runs on a cluster (the leader only); set before start().
  void set_shift(schedule::Shift shift) { loop_.set_shift(shift); }
  void start();
  // Messages were sent or edited: look now. Safe from any thread.
  void wake();
  void stop();
  // Runs translate() on a worker thread and resumes on the caller's executor.
  boost::asio::awaitable<Outcome> run(std::string text, std::string from, std::string to, std::vector<std::string> terms);

 private:
  struct Work;
  boost::asio::awaitable<timeutil::Millis> round();

  boost::asio::io_context& io_;
  store::Writer& writer_;
  store::ReadPool& reads_;
  config::Holder& config_;
  Translator& translator_;
  events::Sink& events_;
  Clock clock_;
  boost::asio::thread_pool pool_;
  schedule::WakeLoop loop_;
};

}  // namespace tourbus::translate
