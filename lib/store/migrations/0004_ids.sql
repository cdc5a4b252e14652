-- Ids are never reused. Without AUTOINCREMENT SQLite hands out the highest rowid again after
-- that row is deleted, so a queued job naming push subscription 7 could reach the browser of
-- whoever subscribed next. Every table whose rows are deleted while something may still name
-- them (jobs name subscriptions and devices, messages name files, attempts and operators name
-- jobs, tokens are named by id in revocations) is rebuilt with AUTOINCREMENT here. Tables added
-- later declare it themselves; tests/unit/store/ids_test.cpp checks both.
--
-- Each table is copied row for row (ids kept), then its sequence is raised past every id still
-- named elsewhere, so an id deleted before this migration is not handed out again either.

CREATE TABLE tokens_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id      INTEGER NOT NULL REFERENCES users (id),
  label        TEXT NOT NULL DEFAULT '',
  hash         TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
INSERT INTO tokens_new SELECT id, user_id, label, hash, prefix, created_at, expires_at, revoked_at, last_used_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE files_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  sha256       TEXT NOT NULL,
  size         INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  name         TEXT NOT NULL,
  width        INTEGER,
  height       INTEGER,
  uploader_id  INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL
);
INSERT INTO files_new SELECT id, sha256, size, content_type, name, width, height, uploader_id, created_at FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_created ON files (created_at);

CREATE TABLE notify_jobs_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  notification_id INTEGER NOT NULL REFERENCES notifications (id),
  user_id         INTEGER NOT NULL,
  channel         TEXT NOT NULL,
  address         TEXT NOT NULL DEFAULT '',
  lane            INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'dead', 'cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         INTEGER NOT NULL,
  deferred        TEXT,
  subject         TEXT NOT NULL DEFAULT '',
  body            TEXT NOT NULL DEFAULT '',
  html            TEXT,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  delivered_at    INTEGER
);
INSERT INTO notify_jobs_new SELECT id, notification_id, user_id, channel, address, lane, state, attempts, next_at,
  deferred, subject, body, html, last_error, created_at, updated_at, delivered_at FROM notify_jobs;
DROP TABLE notify_jobs;
ALTER TABLE notify_jobs_new RENAME TO notify_jobs;
CREATE INDEX notify_jobs_due ON notify_jobs (channel, lane, next_at) WHERE state = 'queued';
CREATE INDEX notify_jobs_notification ON notify_jobs (notification_id);
CREATE INDEX notify_jobs_dead ON notify_jobs (updated_at) WHERE state = 'dead';

CREATE TABLE notify_attempts_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id          INTEGER NOT NULL,
  at              INTEGER NOT NULL,
  outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  status          TEXT NOT NULL DEFAULT '',
  response        TEXT NOT NULL DEFAULT '',
  duration_ms     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO notify_attempts_new SELECT id, job_id, at, outcome, status, response, duration_ms FROM notify_attempts;
DROP TABLE notify_attempts;
ALTER TABLE notify_attempts_new RENAME TO notify_attempts;
CREATE INDEX notify_attempts_job ON notify_attempts (job_id);

CREATE TABLE push_subscriptions_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id         INTEGER NOT NULL,
  endpoint        TEXT NOT NULL UNIQUE,
  p256dh          TEXT NOT NULL,
  auth            TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
INSERT INTO push_subscriptions_new SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions;
DROP TABLE push_subscriptions;
ALTER TABLE push_subscriptions_new RENAME TO push_subscriptions;
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

CREATE TABLE devices_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id         INTEGER NOT NULL,
  platform        TEXT NOT NULL CHECK (platform IN ('fcm', 'apns')),
  token           TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (platform, token)
);
INSERT INTO devices_new SELECT id, user_id, platform, token, created_at FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;
CREATE INDEX devices_user ON devices (user_id);

-- Past every id still named: by jobs (subscriptions, devices), messages (files), attempts (jobs).
CREATE TEMP TABLE id_floor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
INSERT INTO id_floor VALUES
  ('tokens', (SELECT coalesce(max(id), 0) FROM tokens)),
  ('files', max((SELECT coalesce(max(id), 0) FROM files), (SELECT coalesce(max(file_id), 0) FROM messages))),
  ('notify_jobs', max((SELECT coalesce(max(id), 0) FROM notify_jobs), (SELECT coalesce(max(job_id), 0) FROM notify_attempts))),
  ('notify_attempts', (SELECT coalesce(max(id), 0) FROM notify_attempts)),
  ('push_subscriptions', max((SELECT coalesce(max(id), 0) FROM push_subscriptions),
     (SELECT coalesce(max(CAST(address AS INTEGER)), 0) FROM notify_jobs WHERE channel = 'webpush'))),
  ('devices', max((SELECT coalesce(max(id), 0) FROM devices),
     (SELECT coalesce(max(CAST(address AS INTEGER)), 0) FROM notify_jobs WHERE channel IN ('fcm', 'apns'))));
DELETE FROM sqlite_sequence WHERE name IN (SELECT name FROM id_floor);
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM id_floor WHERE seq > 0;
DROP TABLE id_floor;
