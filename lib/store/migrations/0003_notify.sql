-- Notifications: a durable outbox of jobs (one per channel and recipient), every delivery attempt,
-- the in-app feed, per-user preferences, and the addresses of browsers and phones.

CREATE TABLE notifications (
  id              INTEGER PRIMARY KEY,
  idempotency_key TEXT UNIQUE,           -- the same key twice enqueues once
  category        TEXT NOT NULL CHECK (category IN ('transactional', 'reminder', 'review', 'marketing', 'emergency')),
  template        TEXT,                  -- NULL: literal text
  vars            TEXT NOT NULL DEFAULT '{}',
  target          TEXT NOT NULL,         -- JSON: who was asked for ({"users": [...]}, {"tour": 3}, {"role": "guide"})
  channels        TEXT NOT NULL,         -- JSON array as asked ("auto" or channel names)
  created_by      TEXT NOT NULL,         -- a handle, or "platform"
  created_at      INTEGER NOT NULL
);

CREATE TABLE notify_jobs (
  id              INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL REFERENCES notifications (id),
  user_id         INTEGER NOT NULL,
  channel         TEXT NOT NULL,
  address         TEXT NOT NULL DEFAULT '',  -- e-mail, phone, subscription or device id, URL
  lane            INTEGER NOT NULL,          -- 0 emergency, 1 transactional, 2 marketing
  state           TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'dead', 'cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         INTEGER NOT NULL,          -- not before (ms since the epoch, UTC)
  deferred        TEXT,                      -- why next_at was pushed back at enqueue ('quiet_hours')
  subject         TEXT NOT NULL DEFAULT '',  -- rendered for the recipient at enqueue
  body            TEXT NOT NULL DEFAULT '',
  html            TEXT,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  delivered_at    INTEGER
);
CREATE INDEX notify_jobs_due ON notify_jobs (channel, lane, next_at) WHERE state = 'queued';
CREATE INDEX notify_jobs_notification ON notify_jobs (notification_id);
CREATE INDEX notify_jobs_dead ON notify_jobs (updated_at) WHERE state = 'dead';

CREATE TABLE notify_attempts (
  id              INTEGER PRIMARY KEY,
  job_id          INTEGER NOT NULL,
  at              INTEGER NOT NULL,
  outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  status          TEXT NOT NULL DEFAULT '',  -- provider status: "250", "201", "410", "timeout", ...
  response        TEXT NOT NULL DEFAULT '',  -- an excerpt of the provider's answer
  duration_ms     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notify_attempts_job ON notify_attempts (job_id);

CREATE TABLE feed (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL,
  notification_id INTEGER NOT NULL,
  category        TEXT NOT NULL,
  title           TEXT NOT NULL,
  body            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  read_at         INTEGER
);
CREATE INDEX feed_user ON feed (user_id, id);
CREATE INDEX feed_unread ON feed (user_id) WHERE read_at IS NULL;

CREATE TABLE notify_preferences (
  user_id         INTEGER NOT NULL,
  category        TEXT NOT NULL,
  channel         TEXT NOT NULL,
  enabled         INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (user_id, category, channel)
) WITHOUT ROWID;

CREATE TABLE push_subscriptions (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL,
  endpoint        TEXT NOT NULL UNIQUE,
  p256dh          TEXT NOT NULL,
  auth            TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

CREATE TABLE devices (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL,
  platform        TEXT NOT NULL CHECK (platform IN ('fcm', 'apns')),
  token           TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (platform, token)
);
CREATE INDEX devices_user ON devices (user_id);
