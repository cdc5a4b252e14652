// schedule_bench: the scheduler and campaign figures of BENCHMARKS.md, see bench/README.md.
//
//   schedule_bench [--users N | --quick] [--part firings|campaign|all] [--dir DIR]
//
// Runs lib/schedule on real SQLite files in a temp dir under DIR (default $TMPDIR or /tmp): every
// write goes through store::Writer with the daemon's defaults (WAL, synchronous = full), one
// writer transaction per call as the Scheduler and the CampaignRunner make them. Each part
// measures against a reference on a database of its own holding the same users:
//   firings   N users on N/100 tours of 100, one tour reminder (start-1h) planned for each
//             participant and all due; fired 256 per transaction until none is left (as the
//             Scheduler does). Reference: notify::plan of the same N one-recipient reminders
//             (template, tour variables, idempotency key, signed link), 256 per transaction.
//   campaign  N users with marketing consent, a campaign to segment "consent": start_campaign
//             (segment -> recipients, one transaction), then run_step 500 at a time, unthrottled,
//             until done. Reference: notify::plan of the same marketing template to the same users
//             in sends of 500 (what notify.send does), one per transaction.
// Prints one JSON line per part on stdout; progress goes to stderr. Exits 1 when a part did not
// send what it should (every firing fired, every recipient queued, one in-app job each).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "channels/channels.hpp"
#include "core/config.hpp"
#include "core/links.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/planner.hpp"
#include "notify/templates.hpp"
#include "schedule/campaign_runner.hpp"
#include "schedule/campaigns.hpp"
#include "schedule/fire.hpp"
#include "schedule/plan.hpp"
#include "schedule/schedules.hpp"
#include "schedule/trigger.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using timeutil::Millis;

namespace {

constexpr std::size_t kFireBatch = 256;       // the Scheduler's firings per transaction
constexpr std::int64_t kCampaignBatch = 500;  // the CampaignRunner's recipients per transaction
constexpr int kPerTour = 100;
constexpr Millis kHour = 3'600'000, kDay = 24 * kHour;
constexpr std::string_view kLinkKey = "schedule-bench-link-key-0123456789abcdef";
constexpr std::string_view kBase = "https://tours.example.com";

// A part that did not do what it measures: reported, and the temp dir removed, by main.
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::int64_t rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}

std::int64_t max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Everything a PlanContext refers to, as the daemon has it: the real channel catalog with only
// the in-app feed configured, templates on disk, the default config.
struct Env {
  std::filesystem::path dir;
  config::Config config;
  std::vector<std::unique_ptr<notify::Channel>> owned = channels::make_all();
  notify::Catalog catalog;
  std::set<std::string> configured{"inapp"};
  std::unique_ptr<notify::Templates> templates;
  Millis now = 0;

  explicit Env(std::filesystem::path d) : dir(std::move(d)) {
    for (const auto& ch : owned) catalog.add(ch->descriptor());
    auto t = dir / "templates";
    std::filesystem::create_directories(t);
    std::ofstream(t / "tour_soon.en.toml")
        << "category = \"reminder\"\nsubject = \"{{tour_title}} at {{start_local}}\"\n"
           "text = \"Hi {{name}}, {{tour_title}} starts {{start_local}} at {{meeting_point}}. Tell us how it was: "
           "{{review_url}}\"\n";
    std::ofstream(t / "promo.en.toml")
        << "category = \"marketing\"\nsubject = \"Autumn tours\"\n"
           "text = \"Hi {{name}}, 20% off your next tour with code {{code}}. Unsubscribe: {{unsubscribe_url}}\"\n";
    templates = std::make_unique<notify::Templates>(t, "en");
    now = *timeutil::parse_time("2026-06-01T12:00:00Z", "UTC");  // 14:00 in Rome: outside quiet hours
  }

  notify::PlanContext context() const { return notify::PlanContext{*templates, catalog, configured, config, now}; }
  store::Writer writer(const std::string& name) const { return store::Writer(dir / name, store::Writer::Options{}); }
};

// The signed links the daemon puts in messages (daemon/daemon.cpp): review for tours, unsubscribe
// for marketing.
notify::Vars review_link(const store::User& u, std::int64_t tour, Millis now) {
  links::Link l{links::Kind::review, u.id, tour, now + 180 * kDay};
  return {{"review_url", links::url(kBase, kLinkKey, l)}};
}
notify::Vars unsubscribe_link(const store::User& u, std::int64_t campaign) {
  return {{"unsubscribe_url", links::url(kBase, kLinkKey, links::Link{links::Kind::unsubscribe, u.id, campaign, 0})}};
}

struct Person {
  std::int64_t id;
  std::string handle;
};

// N users, 10,000 per transaction.
std::vector<Person> make_users(store::Writer& w, int n, bool consent, Millis now) {
  std::vector<Person> out;
  out.reserve(n);
  for (int first = 0; first < n; first += 10'000) {
    auto r = w.run_sync<bool>([&](store::Db& db) -> Result<bool> {
      for (int i = first; i < std::min(n, first + 10'000); ++i) {
        store::User u;
        char h[16];
        std::snprintf(h, sizeof h, "u%06d", i);
        u.handle = h;
        u.display_name = "Guest " + std::to_string(i);
        u.role = "tourist";
        u.time_zone = "Europe/Rome";
        u.marketing_consent = consent;
        if (consent) u.marketing_consent_at = now - 30 * kDay;
        u.created_at = u.updated_at = now - 30 * kDay;
        auto stored = store::users::insert(db, u);
        if (!stored) return stored.error();
        out.push_back({stored->id, stored->handle});
      }
      return true;
    });
    if (!r) fail("users: " + r.error().message);
  }
  return out;
}

std::int64_t count(store::Writer& w, const std::string& sql) {
  auto r = w.run_sync<std::int64_t>([&](store::Db& db) -> Result<std::int64_t> {
    auto s = db.prepare(sql);
    s.step();
    return s.i64(0);
  });
  if (!r) fail(sql + ": " + r.error().message);
  return *r;
}

store::Tour tour_of(int i, Millis now) {
  store::Tour t;
  t.title = "Old town walk " + std::to_string(i);
  t.starts_at = now + kHour;
  t.ends_at = now + 4 * kHour;
  t.time_zone = "Europe/Rome";
  t.meeting_label = "Fontana di Trevi";
  t.created_at = t.updated_at = now - 7 * kDay;
  return t;
}

// The reference: plan(db, first, last) -> jobs for people [first, last), `batch` people per
// writer transaction; its figures go into `out`. Returns its seconds.
template <class Plan>
double reference(store::Writer& w, int n, int batch, Plan plan, boost::json::object& out) {
  std::int64_t jobs = 0, transactions = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int first = 0; first < n; first += batch) {
    auto made = w.run_sync<std::int64_t>([&](store::Db& db) { return plan(db, first, std::min(n, first + batch)); });
    if (!made) fail("reference: " + made.error().message);
    jobs += *made;
    ++transactions;
  }
  double secs = since(t0);
  if (jobs != n) fail("reference made " + std::to_string(jobs) + " jobs");
  out["reference_transactions"] = transactions;
  out["reference_seconds"] = secs;
  out["reference_per_second"] = n / secs;
  out["reference_jobs"] = jobs;
  return secs;
}

boost::json::object firings(const Env& env, int n) {
  boost::json::object out{{"part", "firings"}, {"users", n}};
  int tours = (n + kPerTour - 1) / kPerTour;
  Millis now = env.now;
  {
    auto w = env.writer("firings.db");
    auto people = make_users(w, n, false, now);
    auto r = w.run_sync<bool>([&](store::Db& db) -> Result<bool> {
      for (int t = 0; t < tours; ++t) {
        auto tour = store::tours::insert(db, tour_of(t, now));
        for (int i = t * kPerTour; i < std::min(n, (t + 1) * kPerTour); ++i)
          store::tours::add_participant(db, tour.id, people[i].id, now - 7 * kDay);
      }
      return true;
    });
    if (!r) fail("tours: " + r.error().message);
    // The reminder is made a day ahead, so every firing is planned, then all come due at `now`.
    auto t0 = std::chrono::steady_clock::now();
    auto planned = w.run_sync<std::int64_t>([&](store::Db& db) -> Result<std::int64_t> {
      schedule::Schedule s;
      s.name = "tour-soon";
      s.template_name = "tour_soon";
      s.audience.all_tours = true;
      auto trigger = schedule::parse_tour_offset("start-1h", "trigger");
      if (!trigger) return trigger.error();
      s.trigger = *trigger;
      s.created_by = "bench";
      s.created_at = s.updated_at = now - kDay;
      auto stored = schedule::schedules::insert(db, s);
      if (!stored) return stored.error();
      schedule::plan_schedule(db, *stored, now - kDay);
      return schedule::firings::pending_total(db);
    });
    if (!planned || *planned != n) fail("planned " + std::to_string(planned ? *planned : -1) + " firings");
    out["plan_seconds"] = since(t0);
    out["tours"] = tours;
    out["pending"] = *planned;
    std::cerr << "schedule_bench: firings: " << *planned << " pending, firing\n";

    std::int64_t fired = 0, jobs = 0, transactions = 0;
    schedule::TourLinks links = [now](const store::User& u, std::int64_t tour) { return review_link(u, tour, now); };
    t0 = std::chrono::steady_clock::now();
    for (;;) {
      auto batch = w.run_sync<std::vector<schedule::Fired>>([&](store::Db& db) -> Result<std::vector<schedule::Fired>> {
        return schedule::fire_due(db, now, env.context(), kFireBatch, links);
      });
      if (!batch) fail("fire_due: " + batch.error().message);
      ++transactions;
      for (const auto& f : *batch) {
        if (f.state != "fired") fail("firing " + std::to_string(f.firing.id) + " " + f.state + ": " + f.note);
        ++fired;
        jobs += f.jobs;
      }
      if (batch->size() < kFireBatch) break;
    }
    double secs = since(t0);
    auto stored_jobs = count(w, "SELECT count(*) FROM notify_jobs WHERE channel = 'inapp'");
    if (fired != n || jobs != n || stored_jobs != n)
      fail("fired " + std::to_string(fired) + ", jobs " + std::to_string(jobs) + " (stored " + std::to_string(stored_jobs) + ")");
    out["fire_seconds"] = secs;
    out["firings_per_second"] = fired / secs;
    out["fired"] = fired;
    out["jobs"] = jobs;
    out["transactions"] = transactions;
  }

  // The floor: the same reminders planned directly, as if nothing had to decide they were due.
  auto w = env.writer("firings-reference.db");
  auto people = make_users(w, n, false, now);
  std::vector<notify::Vars> vars(tours);
  auto made = w.run_sync<bool>([&](store::Db& db) -> Result<bool> {
    for (int t = 0; t < tours; ++t) {
      auto tour = tour_of(t, now);
      tour.id = t + 1;
      vars[t] = schedule::tour_vars(db, tour);
    }
    return true;
  });
  if (!made) fail("tour variables: " + made.error().message);
  std::cerr << "schedule_bench: firings: reference\n";
  auto plan = [&](store::Db& db, int first, int last) -> Result<std::int64_t> {
    std::int64_t jobs = 0;
    for (int i = first; i < last; ++i) {
      notify::SendRequest req;
      req.template_name = "tour_soon";
      req.vars = vars[i / kPerTour];
      req.channels = {"auto"};
      req.users = {people[i].handle};
      req.idempotency_key = "reference:" + std::to_string(i);
      req.created_by = "schedule:tour-soon";
      auto pc = env.context();
      std::int64_t tour = i / kPerTour + 1;
      pc.personalize = [&](const store::User& u) { return review_link(u, tour, now); };
      auto planned = notify::plan(db, req, pc);
      if (!planned) return planned.error();
      jobs += static_cast<std::int64_t>(planned->jobs.size());
    }
    return jobs;
  };
  double secs = reference(w, n, static_cast<int>(kFireBatch), plan, out);
  out["fire_over_reference"] = out["fire_seconds"].as_double() / secs;
  return out;
}

boost::json::object campaign(const Env& env, int n) {
  boost::json::object out{{"part", "campaign"}, {"users", n}};
  Millis now = env.now;
  auto policy = schedule::CampaignPolicy::from(env.config);  // cap 1 a week, quiet hours 21-09
  {
    auto w = env.writer("campaign.db");
    make_users(w, n, true, now);
    schedule::Campaign c;
    c.name = "autumn";
    c.template_name = "promo";
    c.segment = "consent";
    c.vars = {{"code", "AUTUMN20"}};
    c.created_by = "bench";
    c.created_at = c.updated_at = now - kHour;
    auto stored = w.run_sync<schedule::Campaign>([&](store::Db& db) { return schedule::campaigns::insert(db, c); });
    if (!stored) fail("campaign: " + stored.error().message);
    c = *stored;
    std::int64_t rss_before = rss_kib(), rss_peak = rss_before;
    std::cerr << "schedule_bench: campaign: planning\n";

    auto t0 = std::chrono::steady_clock::now();
    auto targeted = w.run_sync<std::int64_t>([&](store::Db& db) { return schedule::start_campaign(db, c, now); });
    double plan_secs = since(t0);
    if (!targeted || *targeted != n) fail("campaign targeted " + std::to_string(targeted ? *targeted : -1));
    rss_peak = std::max(rss_peak, rss_kib());

    std::int64_t queued = 0, skipped = 0, held = 0, jobs = 0, transactions = 0;
    auto t1 = std::chrono::steady_clock::now();
    for (bool finished = false; !finished;) {
      auto step = w.run_sync<schedule::CampaignStep>([&](store::Db& db) {
        auto pc = env.context();
        pc.personalize = [&](const store::User& u) { return unsubscribe_link(u, c.id); };
        return schedule::run_step(db, c, now, kCampaignBatch, policy, pc);
      });
      if (!step) fail("run_step: " + step.error().message);
      ++transactions;
      queued += step->queued;
      skipped += step->skipped;
      held += step->held;
      for (const auto& [ch, k] : step->jobs_by_channel) jobs += k;
      finished = step->finished;
      rss_peak = std::max(rss_peak, rss_kib());
    }
    double queue_secs = since(t1);
    auto stored_jobs = count(w, "SELECT count(*) FROM notify_jobs WHERE channel = 'inapp'");
    if (queued != n || jobs != n || stored_jobs != n)
      fail("campaign queued " + std::to_string(queued) + ", skipped " + std::to_string(skipped) + ", held " +
           std::to_string(held) + ", jobs " + std::to_string(jobs));
    out["recipients"] = *targeted;
    out["plan_seconds"] = plan_secs;
    out["queue_seconds"] = queue_secs;
    out["total_seconds"] = plan_secs + queue_secs;
    out["recipients_per_second"] = n / (plan_secs + queue_secs);
    out["queue_per_second"] = n / queue_secs;
    out["queued"] = queued;
    out["jobs"] = jobs;
    out["transactions"] = transactions;
    out["rss_before_kib"] = rss_before;
    out["rss_peak_kib"] = rss_peak;  // sampled after planning and after every batch
    out["rss_after_kib"] = rss_kib();
    out["rss_growth_kib"] = rss_peak - rss_before;
    // The process's high-water mark so far, setup included (the kernel updates ru_maxrss lazily,
    // so a sampled peak can be above it).
    out["max_rss_kib"] = std::max(max_rss_kib(), rss_peak);
  }

  // The floor: the same message to the same people in plain sends of 500, no campaign around it.
  auto w = env.writer("campaign-reference.db");
  auto people = make_users(w, n, true, now);
  std::cerr << "schedule_bench: campaign: reference\n";
  auto plan = [&](store::Db& db, int first, int last) -> Result<std::int64_t> {
    notify::SendRequest req;
    req.category = "marketing";
    req.template_name = "promo";
    req.vars = {{"code", "AUTUMN20"}};
    req.channels = {"auto"};
    for (int i = first; i < last; ++i) req.users.push_back(people[i].handle);
    req.created_by = "bench";
    auto pc = env.context();
    pc.personalize = [](const store::User& u) { return unsubscribe_link(u, 0); };
    auto planned = notify::plan(db, req, pc);
    if (!planned) return planned.error();
    return static_cast<std::int64_t>(planned->jobs.size());
  };
  double secs = reference(w, n, static_cast<int>(kCampaignBatch), plan, out);
  out["campaign_over_reference"] = out["total_seconds"].as_double() / secs;
  return out;
}

[[noreturn]] void usage() {
  std::cerr << "usage: schedule_bench [--users N | --quick] [--part firings|campaign|all] [--dir DIR]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100'000;
  std::string part = "all";
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--quick") {
      n = 10'000;
      continue;
    }
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (k == "--users") n = std::atoi(v.c_str());
    else if (k == "--part") part = v;
    else if (k == "--dir") parent = v;
    else usage();
  }
  if (n <= 0 || (part != "all" && part != "firings" && part != "campaign")) usage();
  logging::init("warn");
  std::string tmpl = (parent / "tourbus-schedule-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) fail("cannot make a directory under " + parent.string());
  std::filesystem::path dir = tmpl;
  int rc = 0;
  try {
    Env env(dir);
    if (part != "campaign") std::cout << boost::json::serialize(firings(env, n)) << std::endl;
    if (part != "firings") std::cout << boost::json::serialize(campaign(env, n)) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "schedule_bench: " << e.what() << "\n";
    rc = 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
