// Planning and firing with a fake clock: every call gets the `now` the test chooses, on a real
// database with the migrations applied, real templates and the in-app channel. Nothing sleeps.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../support.hpp"
#include "channels/channels.hpp"
#include "core/config.hpp"
#include "core/time.hpp"
#include "notify/outbox.hpp"
#include "notify/planner.hpp"
#include "notify/templates.hpp"
#include "schedule/fire.hpp"
#include "schedule/plan.hpp"
#include "schedule/schedules.hpp"
#include "schedule/trigger.hpp"
#include "store/database.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using schedule::FiringFilter;
using schedule::Schedule;
using timeutil::Millis;

namespace {

constexpr Millis kMinute = 60'000, kHour = 60 * kMinute, kDay = 24 * kHour;

Millis utc(std::string_view text) {
  auto r = timeutil::parse_time(text, "UTC");
  INFO(text);
  REQUIRE(r.ok());
  return *r;
}

// A database made by the writer (migrations applied), a second connection on it for the test to
// call the scheduler with, templates on disk and a catalog holding the in-app channel.
struct Fixture {
  test::TempDir dir;
  store::Target target = test::store_target(dir);
  store::Writer writer;
  store::Db db;
  std::unique_ptr<notify::Channel> inapp = channels::make_inapp();
  notify::Catalog catalog;
  notify::Templates templates;
  config::Config config;
  notify::PlanContext ctx;

  Fixture()
      : writer(target, {}),
        db(target, store::Db::Mode::read_write),
        templates(dir / "templates", "en"),
        ctx{templates, catalog, {"inapp"}, config, 0} {
    store::configure_writer(db, "normal");
    catalog.add(inapp->descriptor());
    std::filesystem::create_directories(dir / "templates");
    write_template("remind", "reminder", "Hello {{name}}");
    write_template("tour_eve", "reminder", "{{tour_title}} starts {{start_local}}");
    write_template("booking", "transactional", "Booking {{booking_ref}} for {{tour_title}} is confirmed");
    write_template("review_ask", "review", "How was {{tour_title}}?");
  }

  void write_template(const std::string& name, const std::string& category, const std::string& text) {
    std::ofstream f(dir / "templates" / (name + ".en.toml"));
    f << "category = \"" << category << "\"\nsubject = \"" << name << "\"\ntext = \"" << text << "\"\n";
  }

  std::int64_t user(const std::string& handle) {
    store::User u;
    u.handle = handle;
    u.display_name = handle;
    u.role = "tourist";
    auto r = store::users::insert(db, u);
    REQUIRE(r.ok());
    return r->id;
  }

  store::Tour tour(const std::string& title, Millis start, Millis end, const std::vector<std::int64_t>& people,
                   std::string status = "scheduled") {
    store::Tour t;
    t.title = title;
    t.starts_at = start;
    t.ends_at = end;
    t.time_zone = "Europe/Rome";
    t.status = std::move(status);
    t = store::tours::insert(db, t);
    for (auto p : people) store::tours::add_participant(db, t.id, p, 0);
    return t;
  }

  Schedule add(Schedule s) {
    s.created_by = "test";
    auto r = schedule::schedules::insert(db, s);
    INFO((r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    return *r;
  }

  std::vector<schedule::Firing> firings(FiringFilter f) {
    f.limit = 10000;
    return schedule::firings::list(db, f);
  }

  std::int64_t count(const std::string& sql) {
    auto s = db.prepare(sql);
    REQUIRE(s.step());
    return s.i64(0);
  }
  std::int64_t notifications() { return count("SELECT count(*) FROM notifications"); }
  std::int64_t jobs() { return count("SELECT count(*) FROM notify_jobs"); }
  std::int64_t jobs_for(std::int64_t user_id) {
    return count("SELECT count(*) FROM notify_jobs WHERE user_id = " + std::to_string(user_id));
  }

  // The in-app jobs of the notification a fired firing made; checks its idempotency key.
  std::vector<notify::Job> jobs_of(const schedule::Firing& f) {
    REQUIRE(f.state == "fired");
    REQUIRE(f.notification_id);
    auto n = notify::outbox::find_by_key(db, "firing:" + std::to_string(f.id));
    REQUIRE(n);
    CHECK(n->id == *f.notification_id);
    return notify::outbox::jobs(db, notify::JobFilter{.notification_id = n->id, .limit = 1000});
  }
};

Schedule cron_reminder(const std::string& expr, const std::string& zone, const std::string& handle) {
  Schedule s;
  s.name = "cron-" + handle;
  s.template_name = "remind";
  s.audience.user = handle;
  s.trigger.kind = schedule::Trigger::Kind::cron;
  s.trigger.cron = expr;
  s.trigger.zone = zone;
  return s;
}

Schedule tour_reminder(const std::string& name, std::string_view offset) {
  Schedule s;
  s.name = name;
  s.template_name = "tour_eve";
  s.audience.all_tours = true;
  auto t = schedule::parse_tour_offset(offset, "trigger");
  REQUIRE(t.ok());
  s.trigger = *t;
  return s;
}

// Runs a cron reminder from `start`, always jumping the clock to the next due firing, and returns
// the instants it fired at before `until`. Each firing must make exactly one notification.
std::vector<std::string> cron_fire_times(const std::string& expr, const std::string& zone, Millis start, Millis until) {
  Fixture fx;
  auto uid = fx.user("ann");
  auto s = fx.add(cron_reminder(expr, zone, "ann"));
  schedule::plan_schedule(fx.db, s, start);
  std::vector<std::string> out;
  for (int guard = 0; guard < 100; ++guard) {
    auto next = schedule::firings::next_due(fx.db);
    REQUIRE(next);
    REQUIRE(*next > start);
    if (*next >= until) break;
    auto fired = schedule::fire_due(fx.db, *next, fx.ctx, 100);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].state == "fired");
    CHECK(fired[0].late_ms == 0);
    out.push_back(timeutil::format_utc(*next));
    auto f = fx.firings({.schedule_id = s.id, .state = "fired"});
    REQUIRE(f.size() == out.size());
    auto jobs = fx.jobs_of(f.back());
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].user_id == uid);
    CHECK(jobs[0].body == "Hello ann");
  }
  CHECK(fx.notifications() == static_cast<std::int64_t>(out.size()));
  // The next one is planned, and only one.
  CHECK(fx.firings({.schedule_id = s.id, .state = "pending"}).size() == 1);
  return out;
}

}  // namespace

TEST_CASE("schedule: a cron reminder fires once per day across daylight-saving changes") {
  using V = std::vector<std::string>;
  SECTION("spring forward in Rome: 02:30 does not exist, it fires once when the gap ends") {
    CHECK(cron_fire_times("30 2 * * *", "Europe/Rome", utc("2026-03-28T12:00:00Z"), utc("2026-03-31T00:00:00Z")) ==
          V{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"});
  }
  SECTION("fall back in Rome: 02:30 occurs twice, it fires at the first") {
    CHECK(cron_fire_times("30 2 * * *", "Europe/Rome", utc("2026-10-23T12:00:00Z"), utc("2026-10-27T00:00:00Z")) ==
          V{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"});
  }
  SECTION("fall back in New York: 01:30 occurs twice, it fires at the first") {
    CHECK(cron_fire_times("30 1 * * *", "America/New_York", utc("2026-10-30T12:00:00Z"), utc("2026-11-03T00:00:00Z")) ==
          V{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"});
  }
}

TEST_CASE("schedule: missed cron firings collapse into one, fired late or skipped by the catch-up policy", "[store]") {
  Fixture fx;
  auto uid = fx.user("ann");
  auto s = cron_reminder("0 9 * * *", "UTC", "ann");
  Millis first = utc("2026-05-01T09:00:00Z");
  Millis now = first + 3 * kDay + kHour;  // 2026-05-04T10:00Z: the 1st, 2nd, 3rd and 4th were missed

  SECTION("once: one late firing now, then the next 09:00 after now") {
    s.catch_up = "once";
    s = fx.add(s);
    schedule::plan_schedule(fx.db, s, utc("2026-05-01T00:00:00Z"));
    REQUIRE(schedule::firings::next_due(fx.db) == first);

    auto fired = schedule::fire_due(fx.db, now, fx.ctx, 100);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].state == "fired");
    CHECK(fired[0].late_ms == 3 * kDay + kHour);
    auto done = fx.firings({.schedule_id = s.id, .state = "fired"});
    REQUIRE(done.size() == 1);
    CHECK(done[0].due_at == first);
    CHECK(done[0].done_at == now);
    CHECK(fx.jobs_of(done[0]).size() == 1);
    CHECK(fx.jobs_for(uid) == 1);
    CHECK(fx.notifications() == 1);

    auto pending = fx.firings({.schedule_id = s.id, .state = "pending"});
    REQUIRE(pending.size() == 1);
    CHECK(timeutil::format_utc(pending[0].due_at) == "2026-05-05T09:00:00Z");
    // Nothing else is due now: the missed days are not fired one by one.
    CHECK(schedule::fire_due(fx.db, now, fx.ctx, 100).empty());
    CHECK(fx.count("SELECT count(*) FROM firings") == 2);
  }
  SECTION("skip: the late firing is skipped, nothing is sent, the next 09:00 is planned") {
    s.catch_up = "skip";
    s = fx.add(s);
    schedule::plan_schedule(fx.db, s, utc("2026-05-01T00:00:00Z"));

    auto fired = schedule::fire_due(fx.db, now, fx.ctx, 100);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].state == "skipped");
    auto skipped = fx.firings({.schedule_id = s.id, .state = "skipped"});
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].due_at == first);
    CHECK_FALSE(skipped[0].notification_id);
    REQUIRE(skipped[0].note);
    CHECK_THAT(*skipped[0].note, Catch::StartsWith("missed"));
    CHECK(fx.notifications() == 0);
    CHECK(fx.jobs() == 0);

    auto pending = fx.firings({.schedule_id = s.id, .state = "pending"});
    REQUIRE(pending.size() == 1);
    CHECK(timeutil::format_utc(pending[0].due_at) == "2026-05-05T09:00:00Z");
    // On time, the same schedule sends.
    auto on_time = schedule::fire_due(fx.db, pending[0].due_at, fx.ctx, 100);
    REQUIRE(on_time.size() == 1);
    CHECK(on_time[0].state == "fired");
    CHECK(fx.notifications() == 1);
  }
}

TEST_CASE("schedule: tour reminders follow the tour when it moves and are cancelled with it", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto a = fx.user("ann"), b = fx.user("bob");
  auto tour = fx.tour("Colosseum", now + 3 * kDay, now + 3 * kDay + 3 * kHour, {a, b});
  auto s = fx.add(tour_reminder("tour-eve", "start-24h"));
  schedule::plan_schedule(fx.db, s, now);

  Millis old_due = tour.starts_at - kDay;
  auto pending = fx.firings({.schedule_id = s.id, .state = "pending"});
  REQUIRE(pending.size() == 2);
  for (const auto& f : pending) {
    CHECK(f.due_at == old_due);
    CHECK(f.tour_id == tour.id);
  }
  CHECK(((pending[0].user_id == a && pending[1].user_id == b) || (pending[0].user_id == b && pending[1].user_id == a)));

  // Two hours later.
  tour.starts_at += 2 * kHour;
  tour.ends_at += 2 * kHour;
  store::tours::update(fx.db, tour);
  schedule::replan_tour(fx.db, tour.id, now + kHour);
  Millis new_due = old_due + 2 * kHour;
  pending = fx.firings({.schedule_id = s.id, .state = "pending"});
  REQUIRE(pending.size() == 2);
  for (const auto& f : pending) CHECK(f.due_at == new_due);
  CHECK(fx.count("SELECT count(*) FROM firings WHERE due_at = " + std::to_string(old_due)) == 0);
  CHECK(schedule::fire_due(fx.db, old_due, fx.ctx, 100).empty());

  SECTION("the moved reminders fire at the new time, with the tour in the text") {
    auto fired = schedule::fire_due(fx.db, new_due, fx.ctx, 100);
    REQUIRE(fired.size() == 2);
    for (const auto& f : fx.firings({.schedule_id = s.id, .state = "fired"})) {
      auto jobs = fx.jobs_of(f);
      REQUIRE(jobs.size() == 1);
      CHECK(jobs[0].user_id == f.user_id);
      CHECK(jobs[0].body == "Colosseum starts Thu 2026-06-04 12:00 CEST");  // the new start, local
    }
    CHECK(fx.notifications() == 2);
  }
  SECTION("a cancelled tour's reminders are cancelled and never fire") {
    tour.status = "cancelled";
    store::tours::update(fx.db, tour);
    schedule::replan_tour(fx.db, tour.id, now + 2 * kHour);
    CHECK(fx.firings({.schedule_id = s.id, .state = "pending"}).empty());
    auto cancelled = fx.firings({.schedule_id = s.id, .state = "cancelled"});
    CHECK(cancelled.size() == 2);
    for (const auto& f : cancelled) {
      CHECK(f.note == "tour cancelled");
      CHECK(f.done_at == now + 2 * kHour);
    }
    CHECK(schedule::fire_due(fx.db, old_due, fx.ctx, 100).empty());
    CHECK(schedule::fire_due(fx.db, new_due, fx.ctx, 100).empty());
    CHECK(fx.notifications() == 0);
  }
}

TEST_CASE("schedule: a late joiner gets only the reminders still ahead; a leaver none", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto early = fx.user("early"), late = fx.user("late");
  auto eve = fx.add(tour_reminder("tour-eve", "start-24h"));
  auto soon = fx.add(tour_reminder("tour-soon", "start-2h"));
  // Created well ahead with one participant: both reminders are planned for them.
  Millis created = now - 3 * kDay;
  auto tour = fx.tour("Vatican", now + 10 * kHour, now + 14 * kHour, {early});
  schedule::replan_tour(fx.db, tour.id, created);
  CHECK(fx.firings({.user_id = early, .state = "pending"}).size() == 2);
  auto eve_fired = schedule::fire_due(fx.db, tour.starts_at - kDay, fx.ctx, 100);
  REQUIRE(eve_fired.size() == 1);
  CHECK(eve_fired[0].state == "fired");

  // Ten hours before the start, a second person joins.
  REQUIRE(store::tours::add_participant(fx.db, tour.id, late, now));
  schedule::replan_tour(fx.db, tour.id, now);
  auto mine = fx.firings({.user_id = late, .state = "pending"});
  REQUIRE(mine.size() == 1);
  CHECK(mine[0].schedule_id == soon.id);
  CHECK(mine[0].due_at == tour.starts_at - 2 * kHour);
  CHECK(fx.firings({.schedule_id = eve.id, .user_id = late}).empty());
  // The early participant's reminder that fired stays fired and is not planned again.
  CHECK(fx.firings({.schedule_id = eve.id, .user_id = early, .state = "fired"}).size() == 1);
  auto theirs = fx.firings({.user_id = early, .state = "pending"});
  REQUIRE(theirs.size() == 1);
  CHECK(theirs[0].schedule_id == soon.id);

  // The late joiner leaves again.
  REQUIRE(store::tours::remove_participant(fx.db, tour.id, late));
  schedule::replan_tour(fx.db, tour.id, now + kMinute);
  CHECK(fx.firings({.user_id = late, .state = "pending"}).empty());
  CHECK(fx.firings({.user_id = early, .state = "pending"}).size() == 1);

  auto fired = schedule::fire_due(fx.db, tour.starts_at - 2 * kHour, fx.ctx, 100);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].firing.user_id == early);
  CHECK(fx.jobs_for(late) == 0);
  CHECK(fx.jobs_for(early) == 2);
}

TEST_CASE("schedule: a tour reminder is checked again when it fires", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto a = fx.user("ann"), b = fx.user("bob");
  auto s = fx.add(tour_reminder("tour-soon", "start-2h"));
  auto tour = fx.tour("Vatican", now + 10 * kHour, now + 14 * kHour, {a, b});
  schedule::plan_schedule(fx.db, s, now);
  Millis due = tour.starts_at - 2 * kHour;

  SECTION("a participant who left without a replan is skipped") {
    REQUIRE(store::tours::remove_participant(fx.db, tour.id, b));
    auto fired = schedule::fire_due(fx.db, due, fx.ctx, 100);
    REQUIRE(fired.size() == 2);
    auto skipped = fx.firings({.user_id = b, .state = "skipped"});
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].note == "no longer taking part");
    CHECK(fx.jobs_for(a) == 1);
    CHECK(fx.jobs_for(b) == 0);
  }
  SECTION("a tour moved without a replan skips the firings planned for the old time") {
    tour.starts_at += kHour;
    tour.ends_at += kHour;
    store::tours::update(fx.db, tour);
    auto fired = schedule::fire_due(fx.db, due, fx.ctx, 100);
    REQUIRE(fired.size() == 2);
    for (const auto& r : fired) {
      CHECK(r.state == "skipped");
      CHECK(r.note == "replanned");
    }
    CHECK(fx.notifications() == 0);
  }
  SECTION("a tour cancelled without a replan cancels them") {
    tour.status = "cancelled";
    store::tours::update(fx.db, tour);
    auto fired = schedule::fire_due(fx.db, due, fx.ctx, 100);
    REQUIRE(fired.size() == 2);
    for (const auto& r : fired) CHECK(r.state == "cancelled");
    CHECK(fx.firings({.schedule_id = s.id, .state = "cancelled"}).size() == 2);
    CHECK(fx.notifications() == 0);
  }
  SECTION("missed while the daemon was down: fired late once (catch-up once)") {
    auto fired = schedule::fire_due(fx.db, due + kHour, fx.ctx, 100);
    REQUIRE(fired.size() == 2);
    for (const auto& r : fired) {
      CHECK(r.state == "fired");
      CHECK(r.late_ms == kHour);
    }
    CHECK(fx.notifications() == 2);
  }
}

TEST_CASE("schedule: firing is idempotent and atomic with its notification", "[store]") {
  Fixture fx;
  fx.user("ann");
  Millis due = utc("2026-07-01T09:00:00Z");
  Schedule s;
  s.name = "once";
  s.template_name = "remind";
  s.audience.user = "ann";
  s.trigger.kind = schedule::Trigger::Kind::at;
  s.trigger.at = due;
  s = fx.add(s);
  schedule::plan_schedule(fx.db, s, due - kDay);
  REQUIRE(fx.firings({.schedule_id = s.id, .state = "pending"}).size() == 1);

  SECTION("firing again at the same time sends nothing more") {
    REQUIRE(schedule::fire_due(fx.db, due, fx.ctx, 100).size() == 1);
    CHECK(schedule::fire_due(fx.db, due, fx.ctx, 100).empty());
    CHECK(schedule::fire_due(fx.db, due + kDay, fx.ctx, 100).empty());
    auto done = fx.firings({.schedule_id = s.id});
    REQUIRE(done.size() == 1);
    CHECK(fx.jobs_of(done[0]).size() == 1);
    CHECK(fx.notifications() == 1);
    CHECK(fx.jobs() == 1);
    // A one-shot schedule plans nothing after it.
    CHECK_FALSE(schedule::firings::next_due(fx.db));
  }
  SECTION("a crash before the commit loses both the firing and its notification, and it fires again once") {
    std::size_t fired_inside = 0;
    std::int64_t notifications_inside = 0;
    auto crashed = fx.writer.run_sync<int>([&](store::Db& wdb) -> Result<int> {
      fired_inside = schedule::fire_due(wdb, due, fx.ctx, 100).size();
      auto n = wdb.prepare("SELECT count(*) FROM notifications");
      n.step();
      notifications_inside = n.i64(0);
      return Error(Code::internal, "crash before the commit");
    });
    REQUIRE_FALSE(crashed.ok());
    CHECK(fired_inside == 1);
    CHECK(notifications_inside == 1);
    // Rolled back: neither the notification nor the firing's new state is there.
    CHECK(fx.notifications() == 0);
    CHECK(fx.jobs() == 0);
    CHECK(fx.firings({.schedule_id = s.id, .state = "pending"}).size() == 1);

    auto fired = schedule::fire_due(fx.db, due + kMinute / 2, fx.ctx, 100);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].state == "fired");
    auto done = fx.firings({.schedule_id = s.id});
    REQUIRE(done.size() == 1);
    CHECK(done[0].state == "fired");
    CHECK(fx.jobs_of(done[0]).size() == 1);
    CHECK(fx.notifications() == 1);
    CHECK(schedule::fire_due(fx.db, due + kMinute, fx.ctx, 100).empty());
    CHECK(fx.notifications() == 1);
  }
}

TEST_CASE("schedule: rules fire on platform events, once per idempotency key, after their delay", "[store]") {
  Fixture fx;
  auto ann = fx.user("ann");
  fx.user("bob");
  Millis received = utc("2026-08-01T10:00:00Z");
  auto tour = fx.tour("Colosseum", received + 5 * kDay, received + 5 * kDay + 3 * kHour, {ann});

  auto rule = [&](const std::string& name, std::optional<std::string_view> delay) {
    Schedule s;
    s.kind = "rule";
    s.name = name;
    s.template_name = "booking";
    s.audience.event = "user";
    s.trigger.kind = schedule::Trigger::Kind::event;
    s.trigger.event = "booking.confirmed";
    if (delay) {
      auto d = schedule::parse_duration(*delay, "delay");
      REQUIRE(d.ok());
      s.trigger.offset_ms = *d;
    }
    return fx.add(s);
  };
  auto now_rule = rule("booked", std::nullopt);
  auto later_rule = rule("booked-later", "10m");
  schedule::plan_schedule(fx.db, now_rule, received - kDay);  // rules plan nothing by themselves
  CHECK(fx.count("SELECT count(*) FROM firings") == 0);

  schedule::PlatformEvent e;
  e.type = "booking.confirmed";
  e.user_id = ann;
  e.tour_id = tour.id;
  e.vars = {{"booking_ref", "BR-42"}};
  e.idempotency_key = "k1";
  e.posted_by = "platform";
  e.received_at = received;
  auto [first, first_dup] = schedule::events::insert(fx.db, e);
  CHECK_FALSE(first_dup);
  auto again = e;
  again.received_at = received + kMinute;
  again.vars = {{"booking_ref", "BR-43"}};
  auto [second, second_dup] = schedule::events::insert(fx.db, again);
  CHECK(second_dup);
  CHECK(second.id == first.id);
  CHECK(second.received_at == received);
  CHECK(fx.count("SELECT count(*) FROM platform_events") == 1);

  CHECK(schedule::plan_event(fx.db, first) == 2);
  // Planning the same event again adds nothing: a firing's identity includes the event.
  CHECK(schedule::plan_event(fx.db, second) == 0);

  CHECK(schedule::fire_due(fx.db, received - 1, fx.ctx, 100).empty());
  auto fired = schedule::fire_due(fx.db, received, fx.ctx, 100);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].firing.schedule_id == now_rule.id);
  CHECK(fired[0].state == "fired");
  auto done = fx.firings({.schedule_id = now_rule.id, .state = "fired"});
  REQUIRE(done.size() == 1);
  CHECK(done[0].event_id == first.id);
  auto jobs = fx.jobs_of(done[0]);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].user_id == ann);
  CHECK(jobs[0].body == "Booking BR-42 for Colosseum is confirmed");
  CHECK(fx.notifications() == 1);

  // The delayed rule: not a moment before received + 10m.
  CHECK(schedule::fire_due(fx.db, received + 10 * kMinute - 1, fx.ctx, 100).empty());
  auto later = schedule::fire_due(fx.db, received + 10 * kMinute, fx.ctx, 100);
  REQUIRE(later.size() == 1);
  CHECK(later[0].firing.schedule_id == later_rule.id);
  CHECK(later[0].firing.due_at == received + 10 * kMinute);
  CHECK(later[0].state == "fired");
  CHECK(fx.notifications() == 2);
  CHECK(fx.jobs_for(ann) == 2);
  CHECK(fx.jobs() == 2);
}

TEST_CASE("schedule: review requests skip no-shows, cancelled tours and those who reviewed", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto a = fx.user("ann"), b = fx.user("bob"), c = fx.user("cid"), d = fx.user("dan"), e = fx.user("eve");
  auto tour = fx.tour("Colosseum", now + kHour, now + 5 * kHour, {a, b, c});
  auto doomed = fx.tour("Forum", now + kHour, now + 4 * kHour, {d});
  auto dead = fx.tour("Pantheon", now + kHour, now + 4 * kHour, {e}, "cancelled");

  schedule::ReviewSettings settings{"review_ask", 2 * kHour, 1, 72 * kHour};
  REQUIRE(schedule::sync_review(fx.db, settings, now));
  auto rs = schedule::schedules::find_name(fx.db, "review", schedule::kReviewSchedule);
  REQUIRE(rs);
  Millis request = tour.ends_at + 2 * kHour, nudge = request + 72 * kHour;
  CHECK(fx.firings({.tour_id = tour.id, .state = "pending"}).size() == 6);
  CHECK(fx.firings({.tour_id = doomed.id, .state = "pending"}).size() == 2);
  CHECK(fx.firings({.tour_id = dead.id}).empty());  // a cancelled tour gets none

  // Cid did not show up; the Forum is cancelled.
  REQUIRE(store::tours::set_no_show(fx.db, tour.id, c, true));
  schedule::replan_tour(fx.db, tour.id, now + 6 * kHour);
  doomed.status = "cancelled";
  store::tours::update(fx.db, doomed);
  schedule::replan_tour(fx.db, doomed.id, now + 6 * kHour);
  CHECK(fx.firings({.user_id = c}).empty());
  CHECK(fx.firings({.tour_id = doomed.id, .state = "cancelled"}).size() == 2);
  auto pending = fx.firings({.tour_id = tour.id, .state = "pending"});
  REQUIRE(pending.size() == 4);
  for (const auto& f : pending) {
    CHECK((f.user_id == a || f.user_id == b));
    CHECK(f.due_at == (f.step == 0 ? request : nudge));
  }

  auto first = schedule::fire_due(fx.db, request, fx.ctx, 100);
  CHECK(first.size() == 2);
  for (const auto& r : first) CHECK(r.state == "fired");
  CHECK(fx.jobs_for(a) == 1);
  CHECK(fx.jobs_for(b) == 1);
  CHECK(fx.jobs_for(c) == 0);
  CHECK(fx.jobs_for(d) == 0);
  CHECK(fx.notifications() == 2);
  for (const auto& f : fx.firings({.tour_id = tour.id, .state = "fired"})) {
    auto jobs = fx.jobs_of(f);
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].body == "How was Colosseum?");
    CHECK(jobs[0].category == "review");
  }

  // Bob reviews after the first request.
  REQUIRE(schedule::reviews::record(fx.db, tour.id, b, "event", request + kHour));
  auto second = schedule::fire_due(fx.db, nudge, fx.ctx, 100);
  REQUIRE(second.size() == 2);
  CHECK(fx.jobs_for(a) == 2);
  CHECK(fx.jobs_for(b) == 1);
  CHECK(fx.notifications() == 3);
  auto bobs = fx.firings({.user_id = b, .state = "skipped"});
  REQUIRE(bobs.size() == 1);
  CHECK(bobs[0].step == 1);
  CHECK(bobs[0].note == "reviewed");
  CHECK_FALSE(bobs[0].notification_id);
  auto anns = fx.firings({.user_id = a, .state = "fired"});
  REQUIRE(anns.size() == 2);
  CHECK(anns[1].step == 1);
  CHECK(schedule::firings::next_due(fx.db) == std::nullopt);
}

TEST_CASE("schedule: sync_review follows the settings, changes nothing when they did not change, and switches off", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto a = fx.user("ann");
  auto tour = fx.tour("Colosseum", now + kHour, now + 5 * kHour, {a});
  // Tours over already: one whose request is still ahead, one whose nudge is past too.
  auto b = fx.user("bob"), c = fx.user("cid");
  auto recent = fx.tour("Forum", now - 3 * kHour, now - kHour, {b}, "finished");
  auto old = fx.tour("Pantheon", now - 10 * kDay, now - 10 * kDay + 3 * kHour, {c}, "finished");
  schedule::ReviewSettings settings{"review_ask", 2 * kHour, 1, 72 * kHour};

  REQUIRE(schedule::sync_review(fx.db, settings, now));
  auto rs = schedule::schedules::find_name(fx.db, "review", schedule::kReviewSchedule);
  REQUIRE(rs);
  CHECK(rs->category == "review");
  auto before = fx.firings({.schedule_id = rs->id, .tour_id = tour.id});
  REQUIRE(before.size() == 2);
  auto recent_ones = fx.firings({.tour_id = recent.id});
  REQUIRE(recent_ones.size() == 2);
  CHECK(recent_ones[0].due_at == recent.ends_at + 2 * kHour);
  CHECK(recent_ones[1].due_at == recent.ends_at + 74 * kHour);
  CHECK(fx.firings({.tour_id = old.id}).empty());

  // The same settings again: nothing changes, not even the firings' ids.
  CHECK_FALSE(schedule::sync_review(fx.db, settings, now + kMinute));
  auto same = fx.firings({.schedule_id = rs->id, .tour_id = tour.id});
  REQUIRE(same.size() == 2);
  CHECK(same[0].id == before[0].id);
  CHECK(same[1].id == before[1].id);
  CHECK(schedule::schedules::find(fx.db, rs->id)->updated_at == now);

  SECTION("changed settings plan the requests afresh") {
    settings.after_ms = 3 * kHour;
    REQUIRE(schedule::sync_review(fx.db, settings, now + kMinute));
    auto moved = fx.firings({.schedule_id = rs->id, .tour_id = tour.id, .state = "pending"});
    REQUIRE(moved.size() == 2);
    CHECK(moved[0].due_at == tour.ends_at + 3 * kHour);
    CHECK(moved[1].due_at == tour.ends_at + 3 * kHour + 72 * kHour);
    CHECK(fx.count("SELECT count(*) FROM schedules WHERE kind = 'review'") == 1);
    CHECK_FALSE(schedule::sync_review(fx.db, settings, now + 2 * kMinute));
  }
  SECTION("an empty template removes the schedule and cancels its pending requests") {
    REQUIRE(schedule::sync_review(fx.db, schedule::ReviewSettings{}, now + kMinute));
    CHECK_FALSE(schedule::schedules::find_name(fx.db, "review", schedule::kReviewSchedule));
    CHECK(schedule::schedules::find(fx.db, rs->id)->state == "removed");
    CHECK(fx.firings({.schedule_id = rs->id, .state = "pending"}).empty());
    auto cancelled = fx.firings({.schedule_id = rs->id, .state = "cancelled"});
    CHECK(cancelled.size() == 4);
    for (const auto& f : cancelled) CHECK(f.note == "review requests switched off");
    CHECK(schedule::fire_due(fx.db, tour.ends_at + 100 * kHour, fx.ctx, 100).empty());
    CHECK(fx.notifications() == 0);
    // Off twice: nothing to do the second time.
    CHECK_FALSE(schedule::sync_review(fx.db, schedule::ReviewSettings{}, now + 2 * kMinute));
    // And on again: a new schedule under the same name.
    REQUIRE(schedule::sync_review(fx.db, settings, now + 3 * kMinute));
    auto again = schedule::schedules::find_name(fx.db, "review", schedule::kReviewSchedule);
    REQUIRE(again);
    CHECK(again->id != rs->id);
    CHECK(fx.firings({.schedule_id = again->id, .state = "pending"}).size() == 4);
  }
}

// Cancelling a tour cancels its tour-relative firings only: a "tour.cancelled" rule that tells the
// participants must still fire.
TEST_CASE("schedule: cancelling a tour leaves the firings of platform-event rules alone", "[store]") {
  Fixture fx;
  fx.write_template("tour_off", "transactional", "{{tour_title}} is cancelled: {{reason}}");
  auto a = fx.user("ann"), b = fx.user("bob");
  Millis received = utc("2026-08-01T10:00:00Z");
  auto tour = fx.tour("Colosseum", received + 2 * kDay, received + 2 * kDay + 3 * kHour, {a, b});
  Schedule s;
  s.kind = "rule";
  s.name = "tour-off";
  s.template_name = "tour_off";
  s.audience.event = "tour";
  s.trigger.kind = schedule::Trigger::Kind::event;
  s.trigger.event = "tour.cancelled";
  s.trigger.offset_ms = 10 * kMinute;
  s = fx.add(s);

  schedule::PlatformEvent e;
  e.type = "tour.cancelled";
  e.user_id = a;
  e.tour_id = tour.id;
  e.vars = {{"reason", "strike"}};
  e.posted_by = "platform";
  e.received_at = received;
  auto [stored, dup] = schedule::events::insert(fx.db, e);
  REQUIRE_FALSE(dup);
  REQUIRE(schedule::plan_event(fx.db, stored) == 1);

  // The operator cancels the tour in tourbus too (tour.cancel replans it).
  tour.status = "cancelled";
  store::tours::update(fx.db, tour);
  schedule::replan_tour(fx.db, tour.id, received + kMinute);
  CHECK(fx.firings({.schedule_id = s.id, .state = "pending"}).size() == 1);

  auto fired = schedule::fire_due(fx.db, received + 10 * kMinute, fx.ctx, 100);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].state == "fired");
  CHECK(fx.jobs_for(a) == 1);
  CHECK(fx.jobs_for(b) == 1);
}

// A replan keeps firings that are overdue but not yet fired (the daemon was down, the schedule
// paused): the catch-up policy applies to them as to any other, even when the tour changed since.
TEST_CASE("schedule: a replan keeps overdue firings for the catch-up policy", "[store]") {
  Fixture fx;
  Millis now = utc("2026-06-01T08:00:00Z");
  auto a = fx.user("ann"), b = fx.user("bob");
  auto s = fx.add(tour_reminder("tour-soon", "start-2h"));
  auto tour = fx.tour("Vatican", now + 10 * kHour, now + 14 * kHour, {a});
  schedule::plan_schedule(fx.db, s, now);
  Millis due = tour.starts_at - 2 * kHour;

  // The daemon was down at `due`; on its way back up, before the scheduler's first round, bob joins.
  REQUIRE(store::tours::add_participant(fx.db, tour.id, b, due + 5 * kMinute));
  schedule::replan_tour(fx.db, tour.id, due + 5 * kMinute);
  auto fired = schedule::fire_due(fx.db, due + 5 * kMinute, fx.ctx, 100);
  REQUIRE(fired.size() == 1);  // ann's, late; bob joined after it was due
  CHECK(fired[0].firing.user_id == a);
  CHECK(fired[0].state == "fired");
  CHECK(fx.jobs_for(a) == 1);
  CHECK(fx.jobs_for(b) == 0);
}
