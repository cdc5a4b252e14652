// location.update, location.share, location.show and location.group: live location during tours.
// A position is stored only inside a tour's sharing window and with the person's consent for
// that tour; it goes at once to those who may see it: the guide sees everyone, tourists see the
// guide (and the group when the guide allows), control-socket operators see every tour.
#include <cmath>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/maintenance.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "safety/locations.hpp"
#include "safety/tracker.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;
using safety::Position;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

boost::json::value opt(std::optional<double> v) { return v ? boost::json::value(*v) : nullptr; }

object position_data(const store::Tour& t, const std::string& handle, const Position& p) {
  return object{{"tour", t.id},       {"user", handle},         {"shared", true},         {"lat", p.lat},
                {"lon", p.lon},       {"accuracy", opt(p.accuracy)}, {"heading", opt(p.heading)}, {"speed", opt(p.speed)},
                {"battery", opt(p.battery)}, {"at", timeutil::format_utc(p.at)}};
}

std::optional<safety::geo::Point> meeting_point(const store::Tour& t) {
  if (t.meeting_lat && t.meeting_lon) return safety::geo::Point{*t.meeting_lat, *t.meeting_lon};
  return std::nullopt;
}

safety::Tracker::Settings tracker_settings(const config::Config& c) {
  return {static_cast<double>(c.location_straggler_meters), c.location_straggler_seconds * 1000,
          static_cast<double>(c.location_geofence_meters)};
}

// Who sees a person's position on a tour: the guide always, the other participants when the
// person is the guide or the group is visible.
std::vector<std::int64_t> viewers(store::Db& db, const store::Tour& t, std::int64_t person) {
  std::vector<std::int64_t> out;
  if (t.guide_id && *t.guide_id != person) out.push_back(*t.guide_id);
  bool everyone = (t.guide_id && *t.guide_id == person) || store::tours::group_locations(db, t.id);
  if (everyone)
    for (auto id : store::tours::participant_ids(db, t.id))
      if (id != person) out.push_back(id);
  return out;
}

struct Recorded {
  store::Tour tour;
  Position position;
  bool is_guide = false;
  std::optional<Position> guide;        // the guide's last position on this tour (participants)
  std::vector<Position> participants;   // everyone's last positions on the tour (the guide moved)
  std::vector<std::int64_t> viewers;
  std::map<std::int64_t, std::string> handles;
};

}  // namespace

boost::asio::awaitable<Result<Reply>> location_update(Context& ctx, const Caller& caller, const object& p) {
  if (caller.user_id == 0)
    co_return Error(Code::invalid_argument, "the control socket has no position: act as a user (tourbus --as HANDLE)");
  Position pos;
  pos.user_id = caller.user_id;
  pos.lat = *get_number(p, "lat");
  pos.lon = *get_number(p, "lon");
  pos.accuracy = get_number(p, "accuracy");
  pos.heading = get_number(p, "heading");
  pos.speed = get_number(p, "speed");
  pos.battery = get_number(p, "battery");
  if (!std::isfinite(pos.lat) || pos.lat < -90 || pos.lat > 90) co_return bad("lat", "a latitude is -90..90");
  if (!std::isfinite(pos.lon) || pos.lon < -180 || pos.lon > 180) co_return bad("lon", "a longitude is -180..180");
  if (pos.accuracy && (!std::isfinite(*pos.accuracy) || *pos.accuracy < 0 || *pos.accuracy > 1e6)) co_return bad("accuracy", "metres, 0 or more");
  if (pos.heading && (!std::isfinite(*pos.heading) || *pos.heading < 0 || *pos.heading > 360)) co_return bad("heading", "degrees, 0-360");
  if (pos.speed && (!std::isfinite(*pos.speed) || *pos.speed < 0 || *pos.speed > 1000)) co_return bad("speed", "metres per second, 0-1000");
  if (pos.battery && (!std::isfinite(*pos.battery) || *pos.battery < 0 || *pos.battery > 100)) co_return bad("battery", "percent, 0-100");
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  pos.at = now;
  // One position per interval per connection (a WebSocket session, else the token).
  auto key = caller.session ? caller.session : (static_cast<std::uint64_t>(caller.token_id) << 1 | 1) + (1ULL << 62);
  if (ctx.tracker && !ctx.tracker->allow(key, now, cfg->location_min_interval_ms))
    co_return Error(Code::rate_limited, "location: at most one position every " + std::to_string(cfg->location_min_interval_ms) +
                                            " ms (location.min_interval_ms)");
  auto wanted = get_int(p, "tour");
  auto user = caller.user_id;
  auto pending = ctx.writer.run<Recorded>([=](store::Db& db) mutable -> Result<Recorded> {
    auto tours = safety::locations::tours_in_window(db, user, now, *cfg);
    std::optional<store::Tour> tour;
    for (auto& t : tours)
      if (!wanted || t.id == *wanted) {
        tour = t;
        break;
      }
    if (!tour)
      return Error(Code::conflict, wanted ? "tour: tour " + std::to_string(*wanted) + " is not yours or not in its sharing window"
                                          : "no tour of yours is in its sharing window now: nothing is shared or stored",
                   "tour");
    if (!safety::locations::sharing(db, tour->id, user))
      return Error(Code::permission_denied,
                   "you have not agreed to share your position with tour " + std::to_string(tour->id) +
                       " (location.share)",
                   "tour");
    pos.tour_id = tour->id;
    safety::locations::record(db, pos);
    Recorded r;
    r.tour = *tour;
    r.position = pos;
    r.is_guide = tour->guide_id && *tour->guide_id == user;
    if (r.is_guide) {
      r.participants = safety::locations::on_tour(db, tour->id);
    } else if (tour->guide_id) {
      if (auto g = safety::locations::last(db, *tour->guide_id); g && g->tour_id == tour->id) r.guide = g;
    }
    r.viewers = viewers(db, *tour, user);
    for (auto id : store::tours::participant_ids(db, tour->id)) r.handles[id] = "";
    r.handles[user] = "";
    for (auto& [id, h] : r.handles)
      if (auto u = store::users::find_id(db, id)) h = u->handle;
    return r;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  if (ctx.tracker) ctx.tracker->recorded(key, now);
  ctx.events.publish(r->viewers, events::push("location", position_data(r->tour, caller.handle, r->position)), true);
  if (ctx.tracker) {
    auto settings = tracker_settings(*cfg);
    std::vector<std::pair<safety::Tracker::Change, std::int64_t>> changes;
    auto here = safety::geo::Point{r->position.lat, r->position.lon};
    if (r->is_guide) {
      for (const auto& q : r->participants)
        if (q.user_id != caller.user_id && r->handles.contains(q.user_id))
          for (auto c : ctx.tracker->update(r->tour.id, q.user_id, {q.lat, q.lon}, here, std::nullopt, now, settings))
            changes.emplace_back(c, q.user_id);
    } else {
      std::optional<safety::geo::Point> guide;
      if (r->guide) guide = safety::geo::Point{r->guide->lat, r->guide->lon};
      for (auto c : ctx.tracker->update(r->tour.id, caller.user_id, here, guide, meeting_point(r->tour), now, settings))
        changes.emplace_back(c, caller.user_id);
    }
    std::vector<std::int64_t> guide;
    if (r->tour.guide_id) guide.push_back(*r->tour.guide_id);
    auto log = logging::get("safety");
    for (const auto& [c, who] : changes) {
      using K = safety::Tracker::Change::Kind;
      const auto& handle = r->handles[who];
      auto distance = std::lround(c.distance_m);
      if (c.kind == K::straggler || c.kind == K::back) {
        bool far = c.kind == K::straggler;
        log->info("safety.straggler tour={} user={} straggling={} distance_m={}", r->tour.id, handle, far, distance);
        ctx.events.publish(guide, events::push("location.straggler", object{{"tour", r->tour.id}, {"user", handle},
                                                                           {"straggling", far}, {"distance_m", distance}}),
                           true);
      } else {
        bool in = c.kind == K::entered;
        log->info("safety.geofence tour={} user={} {} distance_m={}", r->tour.id, handle, in ? "entered" : "left", distance);
        ctx.events.publish(guide, events::push("location.geofence", object{{"tour", r->tour.id}, {"user", handle},
                                                                          {"inside", in}, {"distance_m", distance}}),
                           true);
      }
    }
  }
  co_return Reply::ok(object{{"tour", r->tour.id}, {"at", timeutil::format_utc(now)}, {"interval_ms", cfg->location_min_interval_ms}});
}

boost::asio::awaitable<Result<Reply>> location_share(Context& ctx, const Caller& caller, const object& p) {
  if (caller.user_id == 0)
    co_return Error(Code::invalid_argument, "consent is a person's own: act as a user (tourbus --as HANDLE)");
  auto id = *get_int(p, "id");
  auto share = *get_bool(p, "share");
  auto user = caller.user_id;
  auto now = timeutil::now_ms();
  struct Shared {
    std::vector<std::int64_t> viewers;
  };
  auto pending = ctx.writer.run<Shared>([=](store::Db& db) -> Result<Shared> {
    auto t = store::tours::find(db, id);
    if (!t || !((t->guide_id && *t->guide_id == user) || store::tours::is_participant(db, id, user)))
      return Error(Code::not_found, "id: no tour " + std::to_string(id) + " of yours", "id");
    safety::locations::set_sharing(db, id, user, share, now);
    return Shared{viewers(db, *t, user)};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->info("safety.location_consent tour={} user={} sharing={}", id, caller.handle, share);
  if (!share) {
    if (ctx.tracker) ctx.tracker->forget(id, caller.user_id);
    ctx.events.publish(r->viewers, events::push("location", object{{"tour", id}, {"user", caller.handle}, {"shared", false}}), true);
  }
  co_return Reply::ok(object{{"tour", id}, {"sharing", share}});
}

boost::asio::awaitable<Result<Reply>> location_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  bool with_trail = get_bool(p, "trail").value_or(false);
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto t = store::tours::find(db, id);
    bool is_guide = t && t->guide_id && *t->guide_id == caller.user_id;
    bool is_participant = t && !is_guide && store::tours::is_participant(db, id, caller.user_id);
    if (!t || (!caller.is_operator() && !is_guide && !is_participant))
      return Error(Code::not_found, "id: no tour " + std::to_string(id) + " of yours", "id");
    bool group = store::tours::group_locations(db, id);
    bool see_all = caller.is_operator() || is_guide || group;
    auto w = safety::window(*t, *cfg);
    std::optional<Position> guide_pos;
    if (t->guide_id && safety::locations::sharing(db, id, *t->guide_id))
      if (auto g = safety::locations::last(db, *t->guide_id); g && g->tour_id == id) guide_pos = g;
    array people;
    std::vector<std::pair<std::int64_t, std::string>> who;
    if (t->guide_id) who.emplace_back(*t->guide_id, "guide");
    if (see_all)
      for (auto uid : store::tours::participant_ids(db, id)) who.emplace_back(uid, "tourist");
    else
      who.emplace_back(caller.user_id, "tourist");
    for (const auto& [uid, role] : who) {
      auto u = store::users::find_id(db, uid);
      if (!u) continue;
      bool sharing = safety::locations::sharing(db, id, uid);
      object o{{"user", u->handle}, {"display_name", u->display_name}, {"role", role}, {"sharing", sharing}};
      std::optional<Position> pos;
      if (sharing)
        if (auto q = safety::locations::last(db, uid); q && q->tour_id == id) pos = q;
      o["lat"] = pos ? boost::json::value(pos->lat) : nullptr;
      o["lon"] = pos ? boost::json::value(pos->lon) : nullptr;
      o["accuracy"] = pos ? opt(pos->accuracy) : nullptr;
      o["heading"] = pos ? opt(pos->heading) : nullptr;
      o["speed"] = pos ? opt(pos->speed) : nullptr;
      o["battery"] = pos ? opt(pos->battery) : nullptr;
      o["at"] = pos ? boost::json::value(timeutil::format_utc(pos->at)) : nullptr;
      o["age_seconds"] = pos ? boost::json::value(std::max<std::int64_t>(0, (now - pos->at) / 1000)) : nullptr;
      o["distance_m"] = pos && guide_pos && role != "guide"
                            ? boost::json::value(std::lround(safety::geo::distance_m({pos->lat, pos->lon}, {guide_pos->lat, guide_pos->lon})))
                            : nullptr;
      auto mp = meeting_point(*t);
      o["at_meeting_point"] = pos && mp ? boost::json::value(safety::geo::distance_m({pos->lat, pos->lon}, *mp) <=
                                                             static_cast<double>(cfg->location_geofence_meters))
                                        : nullptr;
      o["straggler"] = ctx.tracker && ctx.tracker->is_straggler(id, uid);
      if (with_trail && (caller.is_operator() || is_guide) && sharing) {
        array trail;
        for (const auto& q : safety::locations::trail(db, id, uid, 1000))
          trail.push_back(object{{"lat", q.lat}, {"lon", q.lon}, {"at", timeutil::format_utc(q.at)}});
        o["trail"] = std::move(trail);
      }
      people.push_back(std::move(o));
    }
    boost::json::value meeting = nullptr;
    if (auto mp = meeting_point(*t))
      meeting = object{{"label", t->meeting_label.value_or("")}, {"lat", mp->lat}, {"lon", mp->lon}};
    return object{{"tour", id},
                  {"title", t->title},
                  {"window", object{{"from", timeutil::format_utc(w.from)}, {"to", timeutil::format_utc(w.to)}}},
                  {"open", w.contains(now) && t->status != "cancelled"},
                  {"group_visible", group},
                  {"meeting_point", meeting},
                  {"people", std::move(people)}};
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> location_group(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto visible = *get_bool(p, "visible");
  auto pending = ctx.writer.run<bool>([=](store::Db& db) -> Result<bool> {
    auto t = store::tours::find(db, id);
    if (!t || (!caller.is_operator() && !(t->guide_id && *t->guide_id == caller.user_id)))
      return Error(Code::not_found, "id: no tour " + std::to_string(id) + " that you guide", "id");
    store::tours::set_group_locations(db, id, visible);
    return true;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->info("safety.location_group tour={} visible={} by={}", id, visible,
                               caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::ok(object{{"tour", id}, {"group_visible", visible}});
}

}  // namespace tourbus::api::handlers

namespace tourbus::api {

boost::asio::awaitable<void> expire_locations(Context& ctx) {
  auto before = timeutil::now_ms() - ctx.config.get()->location_retention_hours * 3'600'000;
  auto pending = ctx.writer.run<std::int64_t>([before](store::Db& db) -> Result<std::int64_t> {
    return safety::locations::purge(db, before);
  });
  auto deleted = co_await std::move(pending);
  auto log = logging::get("safety");
  if (!deleted) {
    log->error("safety.locations_expire_failed error=\"{}\"", deleted.error().message);
    co_return;
  }
  if (*deleted > 0 && ctx.store.dialect() == store::Dialect::sqlite) {
    // The WAL still holds the pages as they were before the delete: fold it into the file.
    // (PostgreSQL: autovacuum frees the dead rows; docs/scaling.md says what that leaves.)
    auto path = ctx.store.file;
    auto work = [path]() -> boost::asio::awaitable<std::optional<std::string>> {
      try {
        store::Db db(path, store::Db::Mode::read_write);
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch (const std::exception& e) {
        co_return std::string(e.what());
      }
      co_return std::string();
    };
    auto done = co_await boost::asio::co_spawn(ctx.blocking, work, boost::asio::use_awaitable);
    if (done && !done->empty()) log->warn("safety.checkpoint_failed error=\"{}\"", *done);
  }
  log->info("safety.locations_expired rows={} before={}", *deleted, timeutil::format_utc(before));
}

}  // namespace tourbus::api

namespace tourbus::api::handlers {

namespace {
const Binding kBindings[] = {
    {"location.update", location_update},
    {"location.share", location_share},
    {"location.show", location_show},
    {"location.group", location_group},
};
}  // namespace

std::span<const Binding> location_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
