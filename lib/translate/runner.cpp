#include "translate/runner.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>

#include "chat/messages.hpp"
#include "core/logging.hpp"
#include "translate/translations.hpp"

namespace tourbus::translate {

namespace asio = boost::asio;
using boost::json::object;

namespace {
constexpr timeutil::Millis kMaxSleepMs = 60'000;
constexpr std::int64_t kBatch = 64;
}  // namespace

// One message to translate, as read in one go: its readers, the languages they want that it
// has no translation into yet, and the job it came from (a retry or an edit).
struct Runner::Work {
  chat::Message message;
  std::vector<Reader> readers;
  std::vector<std::string> targets;
  std::optional<Job> job;
  std::vector<Outcome> outcomes;  // one per target
};

Runner::Runner(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
               Translator& translator, events::Sink& events, Clock clock)
    : io_(io),
      writer_(writer),
      reads_(reads),
      config_(config),
      translator_(translator),
      events_(events),
      clock_(std::move(clock)),
      pool_(static_cast<std::size_t>(config.get()->translate_workers)),
      loop_(io) {}

Runner::~Runner() { pool_.join(); }

void Runner::start() {
  loop_.start([this] { return round(); });
}

void Runner::wake() { loop_.wake(); }

void Runner::stop() {
  loop_.stop();
  pool_.stop();
}

asio::awaitable<Outcome> Runner::run(std::string text, std::string from, std::string to, std::vector<std::string> terms) {
  auto pending = asio::co_spawn(
      pool_,
      [this, text = std::move(text), from = std::move(from), to = std::move(to),
       terms = std::move(terms)]() -> asio::awaitable<Outcome> { co_return translator_.translate(text, from, to, terms); },
      asio::use_awaitable);
  co_return co_await std::move(pending);
}

asio::awaitable<timeutil::Millis> Runner::round() {
  auto log = logging::get("translate");
  auto cfg = config_.get();
  auto now = clock_();
  if (!translator_.enabled()) {
    // Off: the cursor follows the newest message, so switching it on does not translate the past.
    co_await writer_.run<bool>([](store::Db& db) -> Result<bool> {
      jobs::set_cursor(db, chat::messages::last_id(db));
      return true;
    });
    co_return kMaxSleepMs;
  }

  // What to look at, read in one go.
  struct Batch {
    std::vector<Work> work;
    std::int64_t cursor = 0, new_cursor = 0;
    std::size_t fresh = 0, due = 0;
    std::vector<std::string> terms;
  };
  // Shared: the worker threads and the writer hold it while this round waits for them.
  auto batch = std::make_shared<Batch>(reads_.with([&](store::Db& db) {
    Batch b;
    b.cursor = b.new_cursor = jobs::cursor(db);
    b.terms = glossary::terms(db);
    auto add = [&](chat::Message m, std::optional<Job> job) {
      Work w;
      w.message = std::move(m);
      w.job = std::move(job);
      const auto& msg = w.message;
      if (msg.kind != "text" || msg.deleted_at || !msg.translate || !msg.lang || msg.body.empty()) {
        b.work.push_back(std::move(w));
        return;
      }
      w.readers = settings::readers(db, msg.conversation_id);
      std::set<std::string> have;
      std::int64_t id = msg.id;
      auto stored = translations::of(db, std::span(&id, 1), std::nullopt);
      for (const auto& t : stored[id]) have.insert(t.lang);
      std::set<std::string> targets;
      for (const auto& r : w.readers)
        if (r.wants && r.user_id != msg.sender_id && !r.lang.empty() && r.lang != *msg.lang && !have.contains(r.lang))
          targets.insert(r.lang);
      w.targets.assign(targets.begin(), targets.end());
      b.work.push_back(std::move(w));
    };
    for (auto& m : chat::messages::text_after(db, b.cursor, kBatch)) {
      b.new_cursor = std::max(b.new_cursor, m.id);
      ++b.fresh;
      add(std::move(m), std::nullopt);
    }
    for (auto& j : jobs::due(db, now, kBatch)) {
      ++b.due;
      auto m = chat::messages::by_id(db, j.message_id);
      if (!m) m = chat::Message{.id = j.message_id};
      add(std::move(*m), j);
    }
    return b;
  }));
  if (batch->work.empty()) {
    auto next = reads_.with([](store::Db& db) { return jobs::next_due(db); });
    co_return next ? std::clamp<timeutil::Millis>(*next - clock_(), 0, kMaxSleepMs) : kMaxSleepMs;
  }

  // Translate on the worker threads, a message per task: its languages one after the other, the
  // pivot languages first, so a chain through Spanish reuses the Spanish just made (the cache);
  // the same text into the same language later is a cache hit too.
  auto pivots = config::split_list(cfg->translate_pivots);
  std::vector<std::size_t> tasks;
  for (std::size_t i = 0; i < batch->work.size(); ++i) {
    auto& w = batch->work[i];
    std::stable_partition(w.targets.begin(), w.targets.end(),
                          [&](const std::string& l) { return std::find(pivots.begin(), pivots.end(), l) != pivots.end(); });
    w.outcomes.resize(w.targets.size());
    if (!w.targets.empty()) tasks.push_back(i);
  }
  if (!tasks.empty()) {
    struct Waiting {
      explicit Waiting(asio::io_context& io, std::size_t n) : done(io, asio::steady_timer::time_point::max()), remaining(n) {}
      asio::steady_timer done;
      std::size_t remaining;
    };
    auto waiting = std::make_shared<Waiting>(io_, tasks.size());
    for (auto i : tasks) {
      asio::post(pool_, [this, batch, waiting, i] {
        const auto& w = batch->work[i];
        std::vector<Outcome> out;
        for (const auto& target : w.targets) out.push_back(translator_.translate(w.message.body, *w.message.lang, target, batch->terms));
        asio::post(io_, [batch, waiting, i, out = std::move(out)]() mutable {
          batch->work[i].outcomes = std::move(out);
          if (--waiting->remaining == 0) waiting->done.cancel();
        });
      });
    }
    boost::system::error_code ec;
    co_await waiting->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Store what came back, schedule retries, and move the cursor, in one transaction.
  struct Told {
    std::vector<std::pair<std::size_t, std::size_t>> translated;  // (work, target)
    std::vector<std::pair<std::size_t, std::size_t>> unavailable;
  };
  auto stored_at = clock_();
  auto pending = writer_.run<Told>([batch, stored_at, cfg](store::Db& db) -> Result<Told> {
    Told told;
    for (std::size_t i = 0; i < batch->work.size(); ++i) {
      auto& w = batch->work[i];
      std::vector<std::string> failed;
      for (std::size_t t = 0; t < w.targets.size(); ++t) {
        const auto& o = w.outcomes[t];
        if (o.kind == Outcome::Kind::translated) {
          Stored s{w.message.id, w.targets[t], o.text, o.provider,
                   o.pivot.empty() ? std::nullopt : std::optional<std::string>(o.pivot), stored_at};
          translations::put(db, s);
          told.translated.emplace_back(i, t);
        } else if (o.kind == Outcome::Kind::unsupported) {
          if (notices::first(db, w.message.conversation_id, *w.message.lang, w.targets[t], stored_at))
            told.unavailable.emplace_back(i, t);
        } else {
          failed.push_back(w.targets[t] + ": " + o.error);
        }
      }
      auto attempts = (w.job ? w.job->attempts : 0) + 1;
      if (failed.empty() || attempts >= cfg->translate_max_attempts) {
        if (w.job) jobs::done(db, w.message.id);
        continue;
      }
      std::string error;
      for (const auto& f : failed) error += (error.empty() ? "" : "; ") + f;
      auto wait = std::min<std::int64_t>(cfg->translate_retry_max_ms, cfg->translate_retry_base_ms << std::min<std::int64_t>(attempts - 1, 20));
      jobs::schedule(db, w.message.id, stored_at + wait, attempts, error.substr(0, 1000));
    }
    jobs::set_cursor(db, batch->new_cursor);
    return told;
  });
  auto told = co_await std::move(pending);
  if (!told) {
    log->error("translate.store_failed error=\"{}\"", told.error().message);
    co_return 5'000;
  }

  // Tell the readers who want each language.
  auto readers_of = [](const Work& w, const std::string& lang) {
    std::vector<std::int64_t> users;
    for (const auto& r : w.readers)
      if (r.wants && r.lang == lang && r.user_id != w.message.sender_id) users.push_back(r.user_id);
    return users;
  };
  for (auto [i, t] : told->translated) {
    const auto& w = batch->work[i];
    const auto& o = w.outcomes[t];
    object data{{"conversation", w.message.conversation_id},
                {"seq", w.message.seq},
                {"id", w.message.id},
                {"from", *w.message.lang},
                {"lang", w.targets[t]},
                {"text", o.text},
                {"provider", o.provider},
                {"pivot", o.pivot.empty() ? boost::json::value(nullptr) : boost::json::value(o.pivot)},
                {"machine", true}};
    events_.publish(readers_of(w, w.targets[t]), events::push("message.translated", std::move(data)), true);
  }
  for (auto [i, t] : told->unavailable) {
    const auto& w = batch->work[i];
    object data{{"conversation", w.message.conversation_id},
                {"from", *w.message.lang},
                {"lang", w.targets[t]},
                {"reason", w.outcomes[t].error}};
    events_.publish(readers_of(w, w.targets[t]), events::push("translation.unavailable", std::move(data)), true);
    log->info("translate.unavailable conversation={} from={} to={}", w.message.conversation_id, *w.message.lang, w.targets[t]);
  }
  // Each failed attempt at info; the last one, after which the message stays untranslated, at warn.
  for (const auto& w : batch->work)
    for (std::size_t t = 0; t < w.targets.size(); ++t)
      if (w.outcomes[t].kind == Outcome::Kind::failed) {
        auto attempt = (w.job ? w.job->attempts : 0) + 1;
        log->log(attempt >= cfg->translate_max_attempts ? spdlog::level::warn : spdlog::level::info,
                 "translate.failed message={} to={} attempt={} of={} error=\"{}\"", w.message.id, w.targets[t], attempt,
                 cfg->translate_max_attempts, w.outcomes[t].error);
      }
  if (batch->fresh == static_cast<std::size_t>(kBatch) || batch->due == static_cast<std::size_t>(kBatch)) co_return 0;
  auto next = reads_.with([](store::Db& db) { return jobs::next_due(db); });
  co_return next ? std::clamp<timeutil::Millis>(*next - clock_(), 0, kMaxSleepMs) : kMaxSleepMs;
}

}  // namespace tourbus::translate
