// Alerts, roll-call, escalation, positions and their retention with a fake clock: every step gets
// the `now` the test chooses, on a real database with the migrations applied and the in-app and
// SMS channels' descriptors. Nothing sleeps.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "../support.hpp"
#include "channels/channels.hpp"
#include "core/config.hpp"
#include "notify/outbox.hpp"
#include "notify/planner.hpp"
#include "notify/templates.hpp"
#include "safety/alerts.hpp"
#include "safety/ladder.hpp"
#include "safety/locations.hpp"
#include "safety/rollcall.hpp"
#include "safety/sos.hpp"
#include "safety/tracker.hpp"
#include "store/database.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using safety::geo::Point;

namespace {

constexpr std::int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute;
constexpr std::int64_t kT0 = 1'800'000'000'000;  // 2027-01-15, the fake clock's start

struct Fixture {
  test::TempDir dir;
  store::Target target = test::store_target(dir);
  store::Writer writer;
  store::Db db;
  std::unique_ptr<notify::Channel> inapp = channels::make_inapp();
  std::unique_ptr<notify::Channel> sms = channels::make_sms();
  notify::Catalog catalog;
  notify::Templates templates;
  config::Config config;
  notify::PlanContext ctx;  // the in-app channel only: people who "only had push"

  Fixture()
      : writer(target, {}),
        db(target, store::Db::Mode::read_write),
        templates(dir / "templates", "en"),
        ctx{templates, catalog, {"inapp"}, config, kT0} {
    store::configure_writer(db, "normal");
    catalog.add(inapp->descriptor());
    catalog.add(sms->descriptor());
    config.alert_escalate_after_seconds = 300;
  }

  std::int64_t user(const std::string& handle, const std::string& role = "tourist", std::optional<std::string> phone = {},
                    const std::string& language = "en") {
    store::User u;
    u.handle = handle;
    u.display_name = handle;
    u.role = role;
    u.phone = std::move(phone);
    u.language = language;
    auto r = store::users::insert(db, u);
    REQUIRE(r.ok());
    return r->id;
  }

  store::Tour tour(std::int64_t guide, const std::vector<std::int64_t>& people) {
    store::Tour t;
    t.title = "Colosseum";
    t.starts_at = kT0 - kHour;
    t.ends_at = kT0 + 3 * kHour;
    t.time_zone = "Europe/Rome";
    t.guide_id = guide;
    t.meeting_lat = 41.8902;
    t.meeting_lon = 12.4922;
    t = store::tours::insert(db, t);
    for (auto p : people) store::tours::add_participant(db, t.id, p, 0);
    return t;
  }

  // An alert in English and Spanish to the targets, stored as alert.send stores it.
  std::int64_t alert(const safety::Targets& t, const std::string& id = "a1", const std::string& category = "emergency") {
    safety::AlertRecord a;
    a.category = category;
    a.cap.identifier = a.identifier = id;
    a.cap.sender = "ops@example.org";
    a.cap.sent = "2027-01-15T08:00:00+00:00";
    a.cap.status = a.status = "Actual";
    a.cap.msg_type = a.msg_type = "Alert";
    a.cap.scope = "Public";
    safety::cap::Info en, es;
    en.language = "en-US";
    en.categories = {"Met"};
    en.event = "Flood";
    en.urgency = "Immediate";
    en.severity = "Severe";
    en.certainty = "Observed";
    en.headline = "Flood warning";
    en.instruction = "Go to higher ground";
    es = en;
    es.language = "es-ES";
    es.headline = "Aviso de inundación";
    es.instruction = "Suba a un lugar alto";
    a.cap.infos = {en, es};
    a.targets = "{}";
    a.created_by = "test";
    a.created_at = a.updated_at = kT0;
    auto id_ = safety::alerts::insert(db, a);
    REQUIRE(id_.ok());
    safety::alerts::add_recipients(db, *id_, t, kT0);
    return *id_;
  }

  std::int64_t count(const std::string& sql) {
    auto s = db.prepare(sql);
    REQUIRE(s.step());
    return s.i64(0);
  }

  std::vector<std::string> rungs_of(std::int64_t alert, const std::string& handle) {
    std::vector<std::string> out;
    for (const auto& r : safety::alerts::rungs(db, alert))
      if (r.handle == handle) out.push_back(r.rung + ": " + r.detail);
    return out;
  }
};

safety::Position at(std::int64_t user, std::int64_t tour, double lat, double lon, std::int64_t when) {
  safety::Position p;
  p.user_id = user;
  p.tour_id = tour;
  p.lat = lat;
  p.lon = lon;
  p.at = when;
  return p;
}

// The bytes of a file, to look for what should have been deleted.
std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string double_bytes(double v) {
  // SQLite stores a REAL big-endian.
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
  return out;
}

}  // namespace

TEST_CASE("an alert goes out in batches, each person once, in their language", "[safety][store]") {
  Fixture f;
  std::vector<std::int64_t> people;
  for (int i = 0; i < 5; ++i) people.push_back(f.user("t" + std::to_string(i), "tourist", {}, i == 0 ? "es-MX" : "en"));
  auto guide = f.user("guide", "guide");
  auto t = f.tour(guide, people);
  auto id = f.alert(safety::Targets{.tours = {t.id}});
  REQUIRE(safety::alerts::tally(f.db, id).recipients == 6);  // the group and its guide

  auto first = safety::fan_out(f.db, id, kT0, f.ctx, {}, 4);
  CHECK(first.users.size() == 4);
  CHECK_FALSE(first.done);
  auto second = safety::fan_out(f.db, id, kT0, f.ctx, {}, 4);
  CHECK(second.users.size() == 2);
  CHECK(second.done);
  // Again after it is done (a restart): nobody is sent it twice.
  auto again = safety::fan_out(f.db, id, kT0, f.ctx, {}, 4);
  CHECK(again.users.empty());
  CHECK(f.count("SELECT count(*) FROM notify_jobs") == 6);
  CHECK(f.count("SELECT count(DISTINCT user_id) FROM notify_jobs") == 6);
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE lane = 0") == 6);  // the emergency lane
  CHECK(safety::alerts::find(f.db, id)->state == "sent");
  // Spanish for es-MX (es-ES is the nearest block), English for the others.
  auto es = f.db.prepare("SELECT subject, body FROM notify_jobs WHERE user_id = ?1");
  es.bind(1, people[0]);
  REQUIRE(es.step());
  CHECK(es.text(0) == "Aviso de inundación");
  CHECK(es.text(1).find("Responda SEGURO") != std::string::npos);
  auto en = f.db.prepare("SELECT subject FROM notify_jobs WHERE user_id = ?1");
  en.bind(1, people[1]);
  REQUIRE(en.step());
  CHECK(en.text(0) == "Flood warning");
}

TEST_CASE("a tracked notification goes in its own category and asks to be confirmed", "[safety][store]") {
  Fixture f;
  auto anna = f.user("anna", "tourist", {}, "it");
  auto id = f.alert(safety::Targets{.users = {"anna"}}, "pickup", "transactional");
  auto b = safety::fan_out(f.db, id, kT0, f.ctx, [](std::int64_t, std::int64_t) {
    return std::pair<std::string, std::string>{"https://x/s", "https://x/h"};
  }, 10);
  REQUIRE(b.users.size() == 1);
  auto st = f.db.prepare("SELECT j.lane, n.category, j.body FROM notify_jobs j JOIN notifications n ON n.id = j.notification_id "
                         "WHERE j.user_id = ?1");
  st.bind(1, anna);
  REQUIRE(st.step());
  CHECK(st.i64(0) == 1);  // the transactional lane, not the emergency one
  CHECK(st.text(1) == "transactional");
  CHECK(st.text(2).find("reply OK") != std::string::npos);  // no Italian block: the prompt follows the text (English)
  CHECK(st.text(2).find("https://x/s") != std::string::npos);
  CHECK(st.text(2).find("https://x/h") == std::string::npos);  // nothing to "need help" with
  CHECK(safety::alerts::recipient(f.db, id, anna)->next_at == kT0 + 300 * kSecond);  // it escalates too
}

TEST_CASE("the escalation ladder, rung by rung", "[safety][store]") {
  Fixture f;
  auto anna = f.user("anna", "tourist", "+393331112222");
  auto bob = f.user("bob");
  auto guide = f.user("gina", "guide");
  auto op = f.user("olga", "operator");
  f.user("otto", "operator");  // not on duty: not told
  safety::duty::on(f.db, op, "test", kT0);
  auto t = f.tour(guide, {anna, bob});
  auto id = f.alert(safety::Targets{.tours = {t.id}});
  safety::fan_out(f.db, id, kT0, f.ctx, {}, 100);

  notify::PlanContext with_sms = f.ctx;
  with_sms.configured = {"inapp", "sms"};
  auto step = [&](std::int64_t now) { return safety::escalate(f.db, now, with_sms, {}, 100); };

  CHECK(step(kT0 + 299 * kSecond).empty());  // not yet
  safety::alerts::answer(f.db, id, guide, "safe", "websocket", "gina", kT0 + 100 * kSecond);

  auto s1 = safety::escalate(f.db, kT0 + 300 * kSecond, f.ctx, {}, 100);  // rung 1: everything again
  REQUIRE(s1.size() == 2);
  CHECK(s1[0].rung == "renotify");
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE user_id = " + std::to_string(anna)) == 2);

  safety::alerts::answer(f.db, id, bob, "safe", "sms", "sms", kT0 + 400 * kSecond);  // bob is out of it
  CHECK(step(kT0 + 599 * kSecond).empty());

  auto s2 = step(kT0 + 600 * kSecond);  // rung 2: SMS, since the alert went out in-app only
  REQUIRE(s2.size() == 1);
  CHECK(s2[0].rung == "sms");
  CHECK(s2[0].detail == "SMS to their phone");
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE channel = 'sms' AND address = '+393331112222'") == 1);

  auto s3 = step(kT0 + 900 * kSecond);  // rung 3: her guide
  REQUIRE(s3.size() == 1);
  CHECK(s3[0].rung == "guide");
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE user_id = " + std::to_string(guide) +
                " AND subject = 'Not answered: Flood warning'") == 1);

  auto s4 = step(kT0 + 1200 * kSecond);  // rung 4: the operators on duty
  REQUIRE(s4.size() == 1);
  CHECK(s4[0].rung == "operators");
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE user_id = " + std::to_string(op) + " AND body LIKE '%anna%'") == 1);
  CHECK(f.count("SELECT count(*) FROM notify_jobs j JOIN users u ON u.id = j.user_id WHERE u.handle = 'otto'") == 0);

  CHECK(step(kT0 + 10 * kHour).empty());  // the top of the ladder
  CHECK(f.rungs_of(id, "anna") == std::vector<std::string>{"renotify: sent again on inapp", "sms: SMS to their phone",
                                                           "guide: their guide gina was told",
                                                           "operators: the operators on duty were told"});
  CHECK(f.rungs_of(id, "bob") == std::vector<std::string>{"renotify: sent again on inapp"});
  CHECK(f.rungs_of(id, "gina").empty());
  CHECK(safety::next_due(f.db) == std::nullopt);
}

TEST_CASE("an answer stops the ladder; a guide's seen-safe never overrides a call for help", "[safety][store]") {
  Fixture f;
  auto anna = f.user("anna");
  auto guide = f.user("gina", "guide");
  auto t = f.tour(guide, {anna});
  auto id = f.alert(safety::Targets{.tours = {t.id}});
  safety::fan_out(f.db, id, kT0, f.ctx, {}, 100);
  CHECK(safety::alerts::answer(f.db, id, anna, "need_help", "sms", "sms", kT0 + kSecond));
  CHECK(safety::alerts::answer(f.db, id, anna, "safe", "guide", "gina", kT0 + 2 * kSecond));
  CHECK(safety::alerts::recipient(f.db, id, anna)->answer == "need_help");
  CHECK(safety::alerts::answer(f.db, id, anna, "safe", "websocket", "anna", kT0 + 3 * kSecond));  // her own word counts
  CHECK(safety::alerts::recipient(f.db, id, anna)->answer == "safe");
  CHECK(safety::escalate(f.db, kT0 + kHour, f.ctx, {}, 100).size() == 1);  // only the guide, who has not answered
  CHECK_FALSE(safety::alerts::answer(f.db, id, f.user("stranger"), "safe", "app", "x", kT0));
}

TEST_CASE("the group rule notifies the next group only when too few answered", "[safety][store]") {
  Fixture f;
  auto a = f.user("a"), b = f.user("b");
  f.user("g1", "guide");
  f.user("g2", "guide");
  auto id = f.alert(safety::Targets{.users = {"a", "b"}});
  auto id2 = f.alert(safety::Targets{.users = {"a", "b"}}, "a2");
  for (auto x : {id, id2}) {
    f.db.prepare("UPDATE alerts SET group_percent = 50, group_minutes = 10, group_targets = '[\"guide\"]' WHERE id = ?1")
        .bind(1, x)
        .run();
    safety::fan_out(f.db, x, kT0, f.ctx, {}, 100);
  }
  safety::alerts::answer(f.db, id, a, "safe", "app", "a", kT0 + kMinute);
  (void)b;
  CHECK(safety::group_rules(f.db, kT0 + 9 * kMinute, 0, 0).empty());
  auto steps = safety::group_rules(f.db, kT0 + 10 * kMinute, 0, 0);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].detail == "50% answered after 10 min: not needed");
  CHECK(steps[1].detail == "0% answered after 10 min (below 50%): 2 more people (guide) alerted");
  CHECK(safety::alerts::tally(f.db, id).recipients == 2);
  CHECK(safety::alerts::tally(f.db, id2).recipients == 4);
  CHECK(safety::alerts::find(f.db, id2)->state == "sending");  // the new people are sent it next
  CHECK(safety::fan_out(f.db, id2, kT0 + 10 * kMinute, f.ctx, {}, 100).users.size() == 2);
  CHECK(safety::group_rules(f.db, kT0 + kHour, 0, 0).empty());  // once
}

TEST_CASE("area targets: last positions inside, fresh enough; whole tours wherever they are", "[safety][store]") {
  Fixture f;
  auto guide = f.user("gina", "guide");
  auto in = f.user("in"), stale = f.user("stale"), out = f.user("out"), fiji = f.user("fiji"), roaming = f.user("roaming");
  auto t = f.tour(guide, {in, stale, out, fiji});
  auto t2 = f.tour(guide, {roaming});
  using safety::locations::record;
  record(f.db, at(in, t.id, 41.8902, 12.4922, kT0 - kMinute));           // the Colosseum
  record(f.db, at(stale, t.id, 41.8903, 12.4923, kT0 - 2 * kHour));      // there, but too long ago
  record(f.db, at(out, t.id, 45.4642, 9.1900, kT0 - kMinute));           // Milan
  record(f.db, at(fiji, t.id, -17.8, 179.9, kT0 - kMinute));             // beside the antimeridian
  record(f.db, at(roaming, t2.id, 48.8566, 2.3522, kT0 - kMinute));      // Paris

  safety::Targets rome;
  rome.areas.push_back(safety::geo::Area{"Rome", {}, {safety::geo::Circle{{41.9, 12.5}, 5}}});
  rome.max_age_ms = kHour;
  auto a1 = f.alert(rome, "rome");
  std::vector<std::string> got;
  for (const auto& r : safety::alerts::recipients(f.db, a1)) got.push_back(r.handle + "/" + r.reason);
  CHECK(got == std::vector<std::string>{"in/area"});
  auto rec = safety::alerts::recipient(f.db, a1, in);
  CHECK(rec->tour_id == t.id);
  CHECK(rec->guide_id == guide);

  // A polygon across the antimeridian.
  safety::Targets pacific;
  auto poly = safety::geo::parse_polygon("-17,179 -17,-179 -19,-179 -19,179 -17,179");
  REQUIRE(poly.ok());
  pacific.areas.push_back(safety::geo::Area{"Fiji", {*poly}, {}});
  pacific.max_age_ms = kHour;
  auto a2 = f.alert(pacific, "fiji");
  CHECK(safety::alerts::tally(f.db, a2).recipients == 1);
  CHECK(safety::alerts::recipient(f.db, a2, fiji));

  // A whole tour, wherever its people are (and its guide).
  auto a3 = f.alert(safety::Targets{.tours = {t2.id}}, "t2");
  CHECK(safety::alerts::tally(f.db, a3).recipients == 2);
}

// SQLite only (the file's bytes): PostgreSQL keeps dead rows until VACUUM (docs/scaling.md).
TEST_CASE("positions past their retention are gone from the database file", "[safety]") {
  Fixture f;
  auto guide = f.user("gina", "guide");
  auto anna = f.user("anna");
  auto t = f.tour(guide, {anna});
  constexpr double kOld = 41.123456789012, kNew = 41.987654321098;
  for (int i = 0; i < 50; ++i) safety::locations::record(f.db, at(anna, t.id, kOld, 12.5, kT0 - 30 * kHour + i));
  safety::locations::record(f.db, at(guide, t.id, kNew, 12.5, kT0));
  f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  auto file = f.dir / "t.db";
  REQUIRE(bytes_of(file).find(double_bytes(kOld)) != std::string::npos);  // the test can see them

  CHECK(safety::locations::purge(f.db, kT0 - 24 * kHour) == 51);  // 50 trail points + the last position
  f.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK(bytes_of(file).find(double_bytes(kOld)) == std::string::npos);
  CHECK(bytes_of(f.dir / "t.db-wal").find(double_bytes(kOld)) == std::string::npos);
  CHECK(bytes_of(file).find(double_bytes(kNew)) != std::string::npos);
  CHECK_FALSE(safety::locations::last(f.db, anna));
  CHECK(safety::locations::last(f.db, guide));
}

TEST_CASE("withdrawing consent deletes that tour's positions at once", "[safety][store]") {
  Fixture f;
  auto guide = f.user("gina", "guide");
  auto anna = f.user("anna");
  auto t = f.tour(guide, {anna});
  safety::locations::set_sharing(f.db, t.id, anna, true, kT0);
  CHECK(safety::locations::sharing(f.db, t.id, anna));
  safety::locations::record(f.db, at(anna, t.id, 41.89, 12.49, kT0));
  safety::locations::set_sharing(f.db, t.id, anna, false, kT0 + 1);
  CHECK_FALSE(safety::locations::sharing(f.db, t.id, anna));
  CHECK_FALSE(safety::locations::last(f.db, anna));
  CHECK(safety::locations::trail(f.db, t.id, anna, 100).empty());
}

TEST_CASE("the sharing window: a margin before the start and after the end", "[safety][store]") {
  Fixture f;
  auto guide = f.user("gina", "guide");
  auto anna = f.user("anna");
  auto t = f.tour(guide, {anna});  // kT0 - 1 h .. kT0 + 3 h
  f.config.location_window_before_minutes = 30;
  f.config.location_window_after_minutes = 15;
  using safety::locations::tours_in_window;
  CHECK(tours_in_window(f.db, anna, kT0 - 90 * kMinute, f.config).size() == 1);
  CHECK(tours_in_window(f.db, anna, kT0 - 91 * kMinute, f.config).empty());
  CHECK(tours_in_window(f.db, anna, kT0 + 3 * kHour + 15 * kMinute, f.config).size() == 1);
  CHECK(tours_in_window(f.db, anna, kT0 + 3 * kHour + 16 * kMinute, f.config).empty());
  CHECK(tours_in_window(f.db, f.user("stranger"), kT0, f.config).empty());
}

TEST_CASE("stragglers and the meeting point's geofence", "[safety]") {
  safety::Tracker tr;
  safety::Tracker::Settings s{500, 60'000, 150};
  Point guide{41.8902, 12.4922}, near{41.8905, 12.4925}, far{41.9000, 12.4922};  // far: about 1.1 km north
  using K = safety::Tracker::Change::Kind;
  auto kinds = [](const std::vector<safety::Tracker::Change>& v) {
    std::vector<K> out;
    for (const auto& c : v) out.push_back(c.kind);
    return out;
  };
  CHECK(kinds(tr.update(1, 7, near, guide, guide, kT0, s)) == std::vector<K>{K::entered});
  CHECK(tr.update(1, 7, far, guide, guide, kT0 + 1000, s).size() == 1);  // left, not yet a straggler
  CHECK(tr.update(1, 7, far, guide, guide, kT0 + 60'999, s).empty());
  auto late = tr.update(1, 7, far, guide, guide, kT0 + 61'000, s);
  REQUIRE(kinds(late) == std::vector<K>{K::straggler});
  CHECK(late[0].distance_m > 1000);
  CHECK(tr.is_straggler(1, 7));
  CHECK(tr.update(1, 7, far, guide, guide, kT0 + 120'000, s).empty());  // warned once
  CHECK(kinds(tr.update(1, 7, near, guide, guide, kT0 + 130'000, s)) == std::vector<K>{K::back, K::entered});
  CHECK_FALSE(tr.is_straggler(1, 7));
  // A first position outside the geofence is not "left".
  CHECK(tr.update(2, 8, far, std::nullopt, guide, kT0, s).empty());

  CHECK(tr.allow(5, kT0, 1000));
  CHECK(tr.allow(5, kT0 + 10, 1000));  // nothing recorded yet (a refused attempt does not count)
  tr.recorded(5, kT0 + 10);
  CHECK_FALSE(tr.allow(5, kT0 + 1009, 1000));
  CHECK(tr.allow(5, kT0 + 1010, 1000));
  CHECK(tr.allow(6, kT0 + 1010, 1000));  // another connection
}

TEST_CASE("SMS replies in the person's language", "[safety]") {
  using safety::rollcall::Answer;
  using safety::rollcall::parse_reply;
  CHECK(parse_reply("SAFE", "en") == Answer::safe);
  CHECK(parse_reply("  ayuda por favor", "es-MX") == Answer::need_help);
  CHECK(parse_reply("Seguro.", "es") == Answer::safe);
  CHECK(parse_reply("help", "es") == Answer::need_help);  // English is understood everywhere
  CHECK(parse_reply("Hilfe!", "de") == Answer::need_help);
  CHECK(parse_reply("sauvé", "fr") == Answer::safe);
  CHECK(parse_reply("2", "it") == Answer::need_help);
  CHECK(parse_reply("1", "it") == Answer::safe);
  CHECK(parse_reply("what?", "en") == std::nullopt);
  CHECK(parse_reply("", "en") == std::nullopt);
  CHECK(safety::rollcall::prompt("it", "", "").find("SALVO") != std::string::npos);
}

TEST_CASE("an SOS is one per client id and rings until acknowledged", "[safety][store]") {
  Fixture f;
  auto anna = f.user("anna");
  auto guide = f.user("gina", "guide");
  auto op = f.user("olga", "operator");
  auto t = f.tour(guide, {anna});
  safety::Sos s;
  s.user_id = anna;
  s.client_id = "c1";
  s.tour_id = t.id;
  s.raised_at = kT0;
  s.next_ring_at = kT0 + kMinute;
  auto [first, dup1] = safety::sos::insert(f.db, s);
  auto [second, dup2] = safety::sos::insert(f.db, s);
  CHECK_FALSE(dup1);
  CHECK(dup2);
  CHECK(first.id == second.id);

  auto who = safety::responders(f.db, t.id, anna);
  CHECK(who.guide == guide);
  CHECK(who.nobody_on_duty);
  CHECK(who.operators == std::vector<std::int64_t>{op});  // nobody on duty: every operator

  CHECK(safety::ring(f.db, kT0 + 59 * kSecond, kMinute, f.ctx).empty());
  CHECK(safety::ring(f.db, kT0 + kMinute, kMinute, f.ctx).size() == 1);
  CHECK(f.count("SELECT count(*) FROM notify_jobs WHERE subject = 'SOS: anna (call 2)'") == 2);
  CHECK(safety::sos::acknowledge(f.db, first.id, "gina", kT0 + 90 * kSecond));
  CHECK_FALSE(safety::sos::acknowledge(f.db, first.id, "olga", kT0 + 91 * kSecond));
  CHECK(safety::ring(f.db, kT0 + kHour, kMinute, f.ctx).empty());
  CHECK(safety::sos::resolve(f.db, first.id, "gina", std::string("found"), kT0 + kHour));
}
