#include "notify/outbox.hpp"

#include <algorithm>
#include <random>
#include <tuple>

namespace tourbus::notify {

bool is_category(std::string_view c) { return std::ranges::find(kCategories, c) != kCategories.end(); }
int lane_of(std::string_view category) {
  if (category == "emergency") return 0;
  if (category == "marketing") return 2;
  return 1;
}

std::int64_t backoff_ms(int attempt, std::int64_t base_ms, std::int64_t max_ms) {
  std::int64_t d = base_ms;
  for (int i = 1; i < attempt && d < max_ms; ++i) d *= 2;
  d = std::min(d, max_ms);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return d / 2 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(d / 2 + 1));
}

namespace outbox {
namespace {

constexpr const char* kNotificationColumns =
    "id, idempotency_key, category, template, vars, target, channels, created_by, created_at";

Notification read_notification(store::Stmt& s) {
  Notification n;
  n.id = s.i64(0);
  n.idempotency_key = s.opt_text(1);
  n.category = s.text(2);
  n.template_name = s.opt_text(3);
  n.vars = s.text(4);
  n.target = s.text(5);
  n.channels = s.text(6);
  n.created_by = s.text(7);
  n.created_at = s.i64(8);
  return n;
}

constexpr const char* kJobSelect =
    "SELECT j.id, j.notification_id, j.user_id, j.channel, j.address, j.lane, j.state, j.attempts, j.next_at, "
    "j.deferred, j.subject, j.body, j.html, j.last_error, j.created_at, j.updated_at, j.delivered_at, n.category, "
    "coalesce(u.handle, ''), n.idempotency_key, coalesce(u.display_name, ''), j.unsubscribe_url, j.claimed_by "
    "FROM notify_jobs j JOIN notifications n ON n.id = j.notification_id LEFT JOIN users u ON u.id = j.user_id";

Job read_job(store::Stmt& s) {
  Job j;
  j.id = s.i64(0);
  j.notification_id = s.i64(1);
  j.user_id = s.i64(2);
  j.channel = s.text(3);
  j.address = s.text(4);
  j.lane = static_cast<int>(s.i64(5));
  j.state = s.text(6);
  j.attempts = static_cast<int>(s.i64(7));
  j.next_at = s.i64(8);
  j.deferred = s.opt_text(9);
  j.subject = s.text(10);
  j.body = s.text(11);
  j.html = s.opt_text(12);
  j.last_error = s.opt_text(13);
  j.created_at = s.i64(14);
  j.updated_at = s.i64(15);
  j.delivered_at = s.opt_i64(16);
  j.category = s.text(17);
  j.handle = s.text(18);
  j.idempotency_key = s.opt_text(19);
  j.display_name = s.text(20);
  j.unsubscribe_url = s.opt_text(21);
  j.claimed_by = s.opt_text(22);
  return j;
}

// " AND ..." conditions of a filter, binding from ?10 on.
std::string where(const JobFilter& f) {
  std::string w;
  if (f.state) w += " AND j.state = ?10";
  if (f.channel) w += " AND j.channel = ?11";
  if (f.id) w += " AND j.id = ?12";
  if (f.notification_id) w += " AND j.notification_id = ?13";
  if (f.user_id) w += " AND j.user_id = ?14";
  if (f.before_id > 0) w += " AND j.id < ?15";
  return w;
}

void bind(store::Stmt& s, const JobFilter& f) {
  if (f.state) s.bind(10, *f.state);
  if (f.channel) s.bind(11, *f.channel);
  if (f.id) s.bind(12, *f.id);
  if (f.notification_id) s.bind(13, *f.notification_id);
  if (f.user_id) s.bind(14, *f.user_id);
  if (f.before_id > 0) s.bind(15, f.before_id);
}

}  // namespace

std::optional<Notification> find_by_key(store::Db& db, const std::string& key) {
  auto s = db.prepare(std::string("SELECT ") + kNotificationColumns + " FROM notifications WHERE idempotency_key = ?");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return read_notification(s);
}

std::optional<Notification> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string("SELECT ") + kNotificationColumns + " FROM notifications WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_notification(s);
}

std::int64_t insert(store::Db& db, const Notification& n) {
  db.prepare(
        "INSERT INTO notifications (idempotency_key, category, template, vars, target, channels, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, n.idempotency_key)
      .bind(2, n.category)
      .bind(3, n.template_name)
      .bind(4, n.vars)
      .bind(5, n.target)
      .bind(6, n.channels)
      .bind(7, n.created_by)
      .bind(8, n.created_at)
      .run();
  return db.last_insert_rowid();
}

std::int64_t insert_job(store::Db& db, const Job& j) {
  db.prepare(
        "INSERT INTO notify_jobs (notification_id, user_id, channel, address, lane, state, next_at, deferred, subject, "
        "body, html, created_at, updated_at, unsubscribe_url) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, j.notification_id)
      .bind(2, j.user_id)
      .bind(3, j.channel)
      .bind(4, j.address)
      .bind(5, j.lane)
      .bind(6, j.next_at)
      .bind(7, j.deferred)
      .bind(8, j.subject)
      .bind(9, j.body)
      .bind(10, j.html)
      .bind(11, j.created_at)
      .bind(12, j.created_at)
      .bind(13, j.unsubscribe_url)
      .run();
  return db.last_insert_rowid();
}

std::optional<Job> find_job(store::Db& db, std::int64_t id) {
  static const std::string sql = std::string(kJobSelect) + " WHERE j.id = ?";
  auto s = db.prepare(sql);
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_job(s);
}

std::vector<Job> jobs(store::Db& db, const JobFilter& f) {
  auto s = db.prepare(std::string(kJobSelect) + " WHERE 1 = 1" + where(f) + " ORDER BY j.id DESC LIMIT ?1");
  s.bind(1, f.limit);
  bind(s, f);
  std::vector<Job> out;
  while (s.step()) out.push_back(read_job(s));
  return out;
}

std::vector<Job> due(store::Db& db, std::string_view channel, std::int64_t now, std::size_t limit,
                     const std::set<std::int64_t>& skip) {
  // Ids first, from the due index; whole jobs only for the ones taken.
  std::vector<std::int64_t> ids;
  {
    auto s = db.prepare(
        "SELECT id FROM notify_jobs WHERE state = 'queued' AND channel = ?1 AND next_at <= ?2 ORDER BY lane, next_at, id "
        "LIMIT ?3");
    // Enough ids for `limit` after the skipped ones (PostgreSQL reads a result whole).
    s.bind(1, channel).bind(2, now).bind(3, static_cast<std::int64_t>(limit + skip.size()));
    while (ids.size() < limit && s.step())
      if (auto id = s.i64(0); !skip.contains(id)) ids.push_back(id);
  }
  std::vector<Job> out;
  out.reserve(ids.size());
  for (auto id : ids)
    if (auto job = find_job(db, id)) out.push_back(std::move(*job));
  return out;
}

namespace {
// Queued and due, and not held by a live node other than `node` (?2: now, ?3: node, ?4: alive since).
constexpr const char* kClaimable =
    "state = 'queued' AND channel = ?1 AND next_at <= ?2 AND (claimed_by IS NULL OR (claimed_by <> ?3 AND claimed_by NOT IN "
    "(SELECT name FROM nodes WHERE seen_at >= ?4)))";
}  // namespace

std::vector<Job> claim(store::Db& db, std::string_view channel, std::int64_t now, std::size_t limit,
                       std::string_view node, std::int64_t alive_since) {
  // SQLite has one writer, which is the lock; PostgreSQL's nodes skip the rows another is taking.
  std::string lock = db.dialect() == store::Dialect::postgres ? " FOR UPDATE SKIP LOCKED" : "";
  auto s = db.prepare(std::string("UPDATE notify_jobs SET claimed_by = ?3 WHERE id IN (SELECT id FROM notify_jobs WHERE ") +
                      kClaimable + " ORDER BY lane, next_at, id LIMIT ?5" + lock + ") RETURNING id");
  s.bind(1, channel).bind(2, now).bind(3, node).bind(4, alive_since).bind(5, static_cast<std::int64_t>(limit));
  std::vector<std::int64_t> ids;
  while (s.step()) ids.push_back(s.i64(0));
  std::vector<Job> out;
  out.reserve(ids.size());
  for (auto id : ids)
    if (auto job = find_job(db, id)) out.push_back(std::move(*job));
  // RETURNING gives no order: the emergency lane first, then the oldest, as due() does.
  std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
    return std::tie(a.lane, a.next_at, a.id) < std::tie(b.lane, b.next_at, b.id);
  });
  return out;
}

bool claimable(store::Db& db, std::string_view channel, std::int64_t now, std::string_view node,
               std::int64_t alive_since) {
  auto s = db.prepare(std::string("SELECT 1 FROM notify_jobs WHERE ") + kClaimable + " LIMIT 1");
  s.bind(1, channel).bind(2, now).bind(3, node).bind(4, alive_since);
  return s.step();
}

std::int64_t release_claims(store::Db& db, std::string_view node) {
  db.prepare("UPDATE notify_jobs SET claimed_by = NULL WHERE claimed_by = ?1 AND state = 'queued'").bind(1, node).run();
  return db.changes();
}

std::optional<std::int64_t> next_due(store::Db& db, std::string_view channel, std::int64_t now) {
  auto s = db.prepare("SELECT min(next_at) FROM notify_jobs WHERE state = 'queued' AND channel = ? AND next_at > ?");
  s.bind(1, channel).bind(2, now);
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

void record(store::Db& db, const Job& job, const Outcome& o, std::int64_t at, std::int64_t duration_ms,
            std::optional<std::int64_t> retry_at) {
  const char* outcome = o.kind == Outcome::Kind::delivered ? "delivered" : retry_at ? "retry" : "dead";
  db.prepare("INSERT INTO notify_attempts (job_id, at, outcome, status, response, duration_ms) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(1, job.id)
      .bind(2, at)
      .bind(3, outcome)
      .bind(4, o.status)
      .bind(5, o.response.substr(0, 500))
      .bind(6, duration_ms)
      .run();
  // A job cancelled while its attempt was under way stays cancelled unless that attempt delivered it.
  std::string state = o.kind == Outcome::Kind::delivered ? "delivered" : retry_at ? "queued" : "dead";
  std::optional<std::string> error;
  if (o.kind != Outcome::Kind::delivered) error = o.status + (o.response.empty() ? "" : ": " + o.response.substr(0, 200));
  db.prepare(
        "UPDATE notify_jobs SET state = ?2, attempts = attempts + 1, next_at = coalesce(?3, next_at), last_error = ?4, "
        "updated_at = ?5, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?5 ELSE delivered_at END, address = ?6, "
        "claimed_by = NULL "
        "WHERE id = ?1 AND (state != 'cancelled' OR ?2 = 'delivered')")
      .bind(1, job.id)
      .bind(2, state)
      .bind(3, retry_at)
      .bind(4, error)
      .bind(5, at)
      .bind(6, job.address)
      .run();
}

std::vector<Attempt> attempts(store::Db& db, std::int64_t job_id) {
  auto s = db.prepare(
      "SELECT id, job_id, at, outcome, status, response, duration_ms FROM notify_attempts WHERE job_id = ? ORDER BY id");
  s.bind(1, job_id);
  std::vector<Attempt> out;
  while (s.step())
    out.push_back({s.i64(0), s.i64(1), s.i64(2), s.text(3), s.text(4), s.text(5), s.i64(6)});
  return out;
}

std::vector<QueueRow> status(store::Db& db, std::int64_t now) {
  // Through the two partial indexes: the delivered history, however long, is never read.
  auto s = db.prepare(
      "SELECT channel, lane, sum(queued), sum(CASE WHEN queued = 1 AND next_at <= ?1 THEN 1 ELSE 0 END), "
      "sum(1 - queued), min(CASE WHEN queued = 1 AND next_at <= ?1 THEN next_at END) FROM ("
      "SELECT channel, lane, next_at, 1 AS queued FROM notify_jobs WHERE state = 'queued' UNION ALL "
      "SELECT channel, lane, next_at, 0 FROM notify_jobs WHERE state = 'dead') AS q "
      "GROUP BY channel, lane ORDER BY channel, lane");
  s.bind(1, now);
  std::vector<QueueRow> out;
  while (s.step()) out.push_back({s.text(0), static_cast<int>(s.i64(1)), s.i64(2), s.i64(3), s.i64(4), s.opt_i64(5)});
  return out;
}

std::int64_t retry_dead(store::Db& db, const JobFilter& f, std::int64_t now) {
  auto s = db.prepare("UPDATE notify_jobs AS j SET state = 'queued', attempts = 0, next_at = ?2, updated_at = ?2 "
                      "WHERE j.state = 'dead'" + where(JobFilter{.channel = f.channel, .id = f.id}));
  s.bind(2, now);
  bind(s, JobFilter{.channel = f.channel, .id = f.id});
  s.run();
  return db.changes();
}

std::int64_t cancel_queued(store::Db& db, const JobFilter& f, const std::optional<std::string>& category,
                           std::int64_t now) {
  JobFilter only{.channel = f.channel, .id = f.id, .notification_id = f.notification_id, .user_id = f.user_id};
  auto s = db.prepare(
      "UPDATE notify_jobs AS j SET state = 'cancelled', last_error = 'cancelled', updated_at = ?2 WHERE j.state = 'queued'" +
      where(only) +
      (category ? " AND j.notification_id IN (SELECT id FROM notifications WHERE category = ?3)" : std::string()));
  s.bind(2, now);
  if (category) s.bind(3, *category);
  bind(s, only);
  s.run();
  return db.changes();
}

std::int64_t count_recent(store::Db& db, std::int64_t user_id, std::int64_t since,
                          const std::vector<std::string>& categories) {
  std::string in;
  for (std::size_t i = 0; i < categories.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(i + 3);
  if (in.empty()) return 0;
  auto s = db.prepare(
      "SELECT count(DISTINCT j.notification_id) FROM notify_jobs j JOIN notifications n ON n.id = j.notification_id "
      "WHERE j.user_id = ?1 AND j.created_at >= ?2 AND j.state != 'cancelled' AND n.category IN (" + in + ")");
  s.bind(1, user_id).bind(2, since);
  for (std::size_t i = 0; i < categories.size(); ++i) s.bind(static_cast<int>(i + 3), categories[i]);
  s.step();
  return s.i64(0);
}

std::int64_t purge_dead(store::Db& db, const JobFilter& f) {
  JobFilter only{.channel = f.channel, .id = f.id};
  auto a = db.prepare("DELETE FROM notify_attempts WHERE job_id IN (SELECT j.id FROM notify_jobs j WHERE j.state = 'dead'" +
                      where(only) + ")");
  bind(a, only);
  a.run();
  auto s = db.prepare("DELETE FROM notify_jobs AS j WHERE j.state = 'dead'" + where(only));
  bind(s, only);
  s.run();
  return db.changes();
}

}  // namespace outbox
}  // namespace tourbus::notify
