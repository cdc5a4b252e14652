#include "schedule/campaigns.hpp"

namespace tourbus::schedule::campaigns {
namespace {

constexpr const char* kColumns =
    "SELECT id, name, template, segment, channels, vars, state, start_at, rate_per_second, pause_reason, created_by, "
    "created_at, updated_at, started_at, finished_at FROM campaigns ";

Campaign read(const store::Stmt& s) {
  Campaign c;
  c.id = s.i64(0);
  c.name = s.text(1);
  c.template_name = s.text(2);
  c.segment = s.text(3);
  c.channels = list_from(s.text(4));
  c.vars = vars_from(s.text(5));
  c.state = s.text(6);
  c.start_at = s.opt_i64(7);
  c.rate_per_second = s.i64(8);
  c.pause_reason = s.opt_text(9);
  c.created_by = s.text(10);
  c.created_at = s.i64(11);
  c.updated_at = s.i64(12);
  c.started_at = s.opt_i64(13);
  c.finished_at = s.opt_i64(14);
  return c;
}

std::vector<Campaign> read_all(store::Stmt& s) {
  std::vector<Campaign> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

// Binds a compiled segment's values from the `first` placeholder on.
void bind_segment(store::Stmt& s, const SegmentSql& seg, int first) {
  int i = first;
  for (const auto& b : seg.binds) {
    if (const auto* n = std::get_if<std::int64_t>(&b)) s.bind(i++, *n);
    else s.bind(i++, std::get<std::string>(b));
  }
}

}  // namespace

Result<Campaign> insert(store::Db& db, Campaign c) {
  auto s = db.prepare(
      "INSERT INTO campaigns (name, template, segment, channels, vars, state, start_at, rate_per_second, created_by, "
      "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  s.bind(1, c.name).bind(2, c.template_name).bind(3, c.segment).bind(4, list_json(c.channels)).bind(5, vars_json(c.vars));
  s.bind(6, c.state).bind(7, c.start_at).bind(8, c.rate_per_second).bind(9, c.created_by).bind(10, c.created_at);
  s.bind(11, c.updated_at);
  try {
    s.run();
  } catch (const store::SqlError& e) {
    if (e.is_unique_violation()) return Error(Code::already_exists, "name: a campaign named '" + c.name + "' exists already", "name");
    throw;
  }
  c.id = db.last_insert_rowid();
  return c;
}

std::optional<Campaign> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kColumns) + "WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::optional<Campaign> find_name(store::Db& db, std::string_view name) {
  auto s = db.prepare(std::string(kColumns) + "WHERE name = ?1");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::vector<Campaign> list(store::Db& db) {
  auto s = db.prepare(std::string(kColumns) + "ORDER BY id");
  return read_all(s);
}

void update(store::Db& db, const Campaign& c) {
  auto s = db.prepare(
      "UPDATE campaigns SET template = ?2, segment = ?3, channels = ?4, vars = ?5, state = ?6, start_at = ?7, "
      "rate_per_second = ?8, pause_reason = ?9, updated_at = ?10, started_at = ?11, finished_at = ?12 WHERE id = ?1");
  s.bind(1, c.id).bind(2, c.template_name).bind(3, c.segment).bind(4, list_json(c.channels)).bind(5, vars_json(c.vars));
  s.bind(6, c.state).bind(7, c.start_at).bind(8, c.rate_per_second).bind(9, c.pause_reason).bind(10, c.updated_at);
  s.bind(11, c.started_at).bind(12, c.finished_at);
  s.run();
}

std::vector<Campaign> due(store::Db& db, Millis now) {
  auto s = db.prepare(std::string(kColumns) +
                      "WHERE state = 'running' OR (state = 'scheduled' AND start_at <= ?1) ORDER BY id");
  s.bind(1, now);
  return read_all(s);
}

std::optional<Millis> next_start(store::Db& db) {
  auto s = db.prepare("SELECT min(start_at) FROM campaigns WHERE state = 'scheduled'");
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

std::int64_t target(store::Db& db, std::int64_t campaign_id, const SegmentSql& segment) {
  auto s = db.prepare(
      "INSERT INTO campaign_recipients (campaign_id, user_id) SELECT ?1, u.id FROM users u WHERE u.disabled = 0 AND " +
      segment.where + " ON CONFLICT DO NOTHING");
  s.bind(1, campaign_id);
  bind_segment(s, segment, 2);
  s.run();
  return db.changes();
}

std::vector<std::int64_t> select(store::Db& db, const SegmentSql& segment, std::int64_t limit) {
  // The segment's placeholders are numbered in order of appearance: they come first.
  auto s = db.prepare("SELECT u.id FROM users u WHERE u.disabled = 0 AND " + segment.where + " ORDER BY u.id LIMIT ?");
  bind_segment(s, segment, 1);
  s.bind(static_cast<int>(segment.binds.size()) + 1, limit);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::vector<Recipient> pending(store::Db& db, std::int64_t campaign_id, Millis now, std::int64_t limit) {
  auto s = db.prepare(
      "SELECT user_id, not_before FROM campaign_recipients WHERE campaign_id = ?1 AND state = 'pending' AND not_before <= ?2 "
      "ORDER BY not_before, user_id LIMIT ?3");
  s.bind(1, campaign_id).bind(2, now).bind(3, limit);
  std::vector<Recipient> out;
  while (s.step()) out.push_back({s.i64(0), s.i64(1)});
  return out;
}

std::optional<Millis> next_pending(store::Db& db, std::int64_t campaign_id) {
  auto s = db.prepare("SELECT min(not_before) FROM campaign_recipients WHERE campaign_id = ?1 AND state = 'pending'");
  s.bind(1, campaign_id);
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

void set_recipient(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, std::string_view state,
                   std::optional<std::string> reason, std::optional<std::int64_t> notification_id, Millis at) {
  auto s = db.prepare(
      "UPDATE campaign_recipients SET state = ?3, reason = ?4, notification_id = ?5, done_at = ?6 "
      "WHERE campaign_id = ?1 AND user_id = ?2");
  s.bind(1, campaign_id).bind(2, user_id).bind(3, state).bind(4, reason).bind(5, notification_id).bind(6, at);
  s.run();
}

void hold(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, Millis until) {
  auto s = db.prepare("UPDATE campaign_recipients SET not_before = ?3 WHERE campaign_id = ?1 AND user_id = ?2");
  s.bind(1, campaign_id).bind(2, user_id).bind(3, until);
  s.run();
}

std::int64_t cancel_pending(store::Db& db, std::int64_t campaign_id, Millis at) {
  auto s = db.prepare(
      "UPDATE campaign_recipients SET state = 'cancelled', done_at = ?2 WHERE campaign_id = ?1 AND state = 'pending'");
  s.bind(1, campaign_id).bind(2, at);
  s.run();
  return db.changes();
}

std::vector<std::int64_t> notifications(store::Db& db, std::int64_t campaign_id) {
  auto s = db.prepare(
      "SELECT DISTINCT notification_id FROM campaign_recipients WHERE campaign_id = ?1 AND notification_id IS NOT NULL "
      "ORDER BY notification_id");
  s.bind(1, campaign_id);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::map<std::string, std::int64_t> jobs_since(store::Db& db, std::int64_t campaign_id, Millis since) {
  auto s = db.prepare(
      "SELECT j.channel, count(*) FROM notify_jobs j JOIN campaign_recipients r "
      "ON r.notification_id = j.notification_id AND r.user_id = j.user_id "
      "WHERE r.campaign_id = ?1 AND r.done_at >= ?2 AND j.created_at >= ?2 GROUP BY j.channel");
  s.bind(1, campaign_id).bind(2, since);
  std::map<std::string, std::int64_t> out;
  while (s.step()) out[s.text(0)] = s.i64(1);
  return out;
}

CampaignStats stats(store::Db& db, std::int64_t campaign_id) {
  CampaignStats st;
  {
    auto s = db.prepare(
        "SELECT state, coalesce(reason, ''), count(*) FROM campaign_recipients WHERE campaign_id = ?1 GROUP BY state, reason");
    s.bind(1, campaign_id);
    while (s.step()) {
      auto state = s.text(0);
      auto n = s.i64(2);
      st.targeted += n;
      if (state == "pending") st.pending += n;
      else if (state == "queued") st.queued += n;
      else if (state == "cancelled") st.cancelled += n;
      else st.skipped[s.text(1)] += n;
    }
  }
  {
    auto s = db.prepare(
        "SELECT j.state, j.channel, count(*), sum(CASE WHEN j.attempts > 0 THEN 1 ELSE 0 END) FROM notify_jobs j "
        "JOIN campaign_recipients r ON r.notification_id = j.notification_id AND r.user_id = j.user_id "
        "WHERE r.campaign_id = ?1 GROUP BY j.state, j.channel");
    s.bind(1, campaign_id);
    while (s.step()) {
      st.jobs[s.text(0)] += s.i64(2);
      st.jobs_by_channel[s.text(1)] += s.i64(2);
      st.sent += s.i64(3);
    }
  }
  {
    auto s = db.prepare("SELECT count(DISTINCT user_id) FROM unsubscribes WHERE campaign_id = ?1");
    s.bind(1, campaign_id);
    s.step();
    st.unsubscribed = s.i64(0);
  }
  {
    auto s = db.prepare(
        "SELECT count(DISTINCT f.user_id) FROM feed f JOIN campaign_recipients r "
        "ON r.notification_id = f.notification_id AND r.user_id = f.user_id "
        "WHERE r.campaign_id = ?1 AND f.read_at IS NOT NULL");
    s.bind(1, campaign_id);
    s.step();
    st.opened = s.i64(0);
  }
  {
    auto s = db.prepare("SELECT count(*) FROM campaign_clicks WHERE campaign_id = ?1");
    s.bind(1, campaign_id);
    s.step();
    st.clicked = s.i64(0);
  }
  return st;
}

bool record_click(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, Millis at) {
  auto s = db.prepare(
      "INSERT INTO campaign_clicks (campaign_id, user_id, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  s.bind(1, campaign_id).bind(2, user_id).bind(3, at);
  s.run();
  return db.changes() > 0;
}

void record_unsubscribe(store::Db& db, std::int64_t user_id, std::int64_t campaign_id, std::string_view source, Millis at) {
  auto s = db.prepare("INSERT INTO unsubscribes (user_id, campaign_id, source, at) VALUES (?1, ?2, ?3, ?4)");
  s.bind(1, user_id).bind(2, campaign_id).bind(3, source).bind(4, at);
  s.run();
}

}  // namespace tourbus::schedule::campaigns
