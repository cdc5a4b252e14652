// The outbox: notifications, their jobs (one per channel and recipient) and every attempt.
// Jobs are written in the transaction of whatever caused them; workers take the due ones by lane.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "notify/model.hpp"
#include "store/db.hpp"

namespace tourbus::notify {

struct Notification {
  std::int64_t id = 0;
  std::optional<std::string> idempotency_key;
  std::string category;
  std::optional<std::string> template_name;
  std::string vars = "{}";      // JSON object
  std::string target;           // JSON object: who was asked for
  std::string channels;         // JSON array, as asked
  std::string created_by;
  std::int64_t created_at = 0;
};

struct Attempt {
  std::int64_t id = 0, job_id = 0, at = 0;
  std::string outcome, status, response;
  std::int64_t duration_ms = 0;
};

struct JobFilter {
  std::optional<std::string> state, channel;
  std::optional<std::int64_t> id, notification_id, user_id;
  std::int64_t before_id = 0;  // paging, newest first: ids below this (0: from the newest)
  std::int64_t limit = 100;
};

// Queue depth and age per channel and lane.
struct QueueRow {
  std::string channel;
  int lane = 0;
  std::int64_t queued = 0, due = 0, dead = 0;
  std::optional<std::int64_t> oldest_due_at;  // next_at of the oldest due job
};

namespace outbox {

std::optional<Notification> find_by_key(store::Db& db, const std::string& key);
std::optional<Notification> find(store::Db& db, std::int64_t id);
std::int64_t insert(store::Db& db, const Notification& n);
std::int64_t insert_job(store::Db& db, const Job& j);

std::optional<Job> find_job(store::Db& db, std::int64_t id);
std::vector<Job> jobs(store::Db& db, const JobFilter& f);
// Up to `limit` queued jobs of a channel due at `now`, emergency lane first, then the oldest,
// leaving out those in `skip` (taken already) without reading them.
std::vector<Job> due(store::Db& db, std::string_view channel, std::int64_t now, std::size_t limit,
                     const std::set<std::int64_t>& skip);
// Several nodes on one store (docs/scaling.md): takes up to `limit` due jobs of a channel for
// `node`, in due()'s order, marking them claimed by it until their attempt is recorded. Jobs
// another node claimed are left while that node is alive (seen at or after `alive_since`); on
// PostgreSQL the rows are locked with SKIP LOCKED, so nodes claiming at once get different jobs.
std::vector<Job> claim(store::Db& db, std::string_view channel, std::int64_t now, std::size_t limit,
                       std::string_view node, std::int64_t alive_since);
// Whether a job of the channel is due at `now` that `node` could claim (a read, no lock).
bool claimable(store::Db& db, std::string_view channel, std::int64_t now, std::string_view node,
               std::int64_t alive_since);
// Lets go of what `node` claimed (at its start: what an earlier run of it held); returns how many.
std::int64_t release_claims(store::Db& db, std::string_view node);
// The earliest next_at after `now` of a queued job of the channel.
std::optional<std::int64_t> next_due(store::Db& db, std::string_view channel, std::int64_t now);

// Records an attempt and moves the job: delivered, queued again at `retry_at`, or dead.
void record(store::Db& db, const Job& job, const Outcome& outcome, std::int64_t at, std::int64_t duration_ms,
            std::optional<std::int64_t> retry_at);
std::vector<Attempt> attempts(store::Db& db, std::int64_t job_id);

std::vector<QueueRow> status(store::Db& db, std::int64_t now);
// Dead jobs back to the queue (due now, attempts from zero); returns how many.
std::int64_t retry_dead(store::Db& db, const JobFilter& f, std::int64_t now);
// Cancels queued jobs (by job, notification, user, channel and the notification's category); a
// delivery already under way may still complete. Returns how many.
std::int64_t cancel_queued(store::Db& db, const JobFilter& f, const std::optional<std::string>& category,
                           std::int64_t now);
// How many notifications of the categories reached (or are queued for) a user since `since`,
// for frequency caps.
std::int64_t count_recent(store::Db& db, std::int64_t user_id, std::int64_t since,
                          const std::vector<std::string>& categories);
// Deletes dead jobs and their attempts; returns how many.
std::int64_t purge_dead(store::Db& db, const JobFilter& f);

}  // namespace outbox
}  // namespace tourbus::notify
