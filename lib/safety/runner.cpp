#include "safety/runner.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/logging.hpp"
#include "notify/templates.hpp"

namespace tourbus::safety {

namespace asio = boost::asio;

namespace {
constexpr timeutil::Millis kMaxSleepMs = 60'000;
constexpr std::int64_t kStepLimit = 500;

struct Steps {
  std::vector<Step> group, ladder;
  std::vector<Sos> rang;
};
}  // namespace

// What planning needs, taken on the event loop for one write: the config, templates and channels
// of this moment.
struct Runner::Inputs {
  std::shared_ptr<const config::Config> cfg;
  std::shared_ptr<notify::Templates> templates;
  std::set<std::string> configured;
  const notify::Catalog* catalog;
  timeutil::Millis now;
  notify::PlanContext context() const { return notify::PlanContext{*templates, *catalog, configured, *cfg, now}; }
};

Runner::Inputs Runner::inputs() {
  auto cfg = config_.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  return Inputs{cfg, std::move(templates), notify_.configured(), &notify_.catalog(), clock_()};
}

Runner::Runner(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
               notify::Dispatcher& notify, events::Sink& events, Clock clock, AnswerLinks links)
    : writer_(writer), reads_(reads), config_(config), notify_(notify), events_(events), clock_(std::move(clock)),
      links_(std::move(links)), loop_(io) {}

void Runner::start() {
  loop_.start([this] { return round(); });
}

void Runner::wake() { loop_.wake(); }

void Runner::stop() { loop_.stop(); }

asio::awaitable<bool> Runner::send_all() {
  auto log = logging::get("safety");
  auto ids = reads_.with([](store::Db& db) { return alerts::sending(db); });
  for (auto id : ids) {
    for (;;) {
      auto in = inputs();
      auto cfg = in.cfg;
      auto now = in.now;
      auto pending = writer_.run<Batch>([in, id, links = links_](store::Db& db) -> Result<Batch> {
        return fan_out(db, id, in.now, in.context(), links, in.cfg->alert_batch_size);
      });
      auto b = co_await std::move(pending);
      if (!b) {
        log->error("safety.alert_failed alert={} error=\"{}\"", id, b.error().message);
        co_return false;
      }
      if (!b->users.empty()) {
        notify_.wake();
        // alert.send told those online when it stored the alert; these joined later.
        std::map<std::string, std::vector<std::int64_t>> by_language;
        for (const auto& [user, language] : b->to_push) by_language[language].push_back(user);
        for (const auto& [language, users] : by_language)
          events_.publish(users, events::push("alert", alert_view(b->alert, language, cfg->notify_default_language)),
                          false);
        log->info("safety.alert_batch alert={} users={} jobs={}", id, b->users.size(), b->jobs);
      }
      if (b->done) {
        log->info("safety.alert_sent alert={} type={} after_ms={}", id, b->alert.msg_type, now - b->alert.created_at);
        break;
      }
      if (b->users.empty()) break;
    }
  }
  co_return true;
}

asio::awaitable<timeutil::Millis> Runner::round() {
  auto log = logging::get("safety");
  if (!co_await send_all()) co_return 1000;
  for (;;) {
    auto in = inputs();
    auto pending = writer_.run<Steps>([in, links = links_](store::Db& db) -> Result<Steps> {
      auto pc = in.context();
      const auto& cfg = in.cfg;
      auto now = in.now;
      Steps s;
      s.group = group_rules(db, now, cfg->location_window_before_minutes * 60'000, cfg->location_window_after_minutes * 60'000);
      s.ladder = escalate(db, now, pc, links, kStepLimit);
      s.rang = ring(db, now, cfg->sos_ring_seconds * 1000, pc);
      return s;
    });
    auto s = co_await std::move(pending);
    if (!s) {
      log->error("safety.escalation_failed error=\"{}\"", s.error().message);
      co_return 1000;
    }
    for (const auto& g : s->group) log->info("safety.group_rule alert={} detail=\"{}\"", g.alert, g.detail);
    for (const auto& st : s->ladder)
      log->info("safety.escalated alert={} user={} rung={} jobs={} detail=\"{}\"", st.alert, st.handle, st.rung, st.jobs,
                st.detail);
    for (const auto& r : s->rang) {
      log->warn("safety.sos_ring sos={} user={} ring={}", r.id, r.handle, r.rings);
      auto who = reads_.with([&](store::Db& db) { return responders(db, r.tour_id, r.user_id).all(); });
      events_.publish(who, events::push("sos", boost::json::object{{"id", r.id}, {"user", r.handle}, {"display_name", r.display_name},
                                                                   {"rings", r.rings}, {"state", r.state}}),
                      true);
    }
    if (!s->group.empty() || !s->ladder.empty() || !s->rang.empty()) notify_.wake();
    bool regrouped = !s->group.empty();
    if (static_cast<std::int64_t>(s->ladder.size()) < kStepLimit) {
      if (regrouped && !co_await send_all()) co_return 1000;
      break;
    }
  }
  auto next = reads_.with([](store::Db& db) { return next_due(db); });
  if (!next) co_return kMaxSleepMs;
  co_return std::clamp<timeutil::Millis>(*next - clock_(), 0, kMaxSleepMs);
}

}  // namespace tourbus::safety
