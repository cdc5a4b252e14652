-- Schedules: reminders, platform-event rules and review requests, their firings, the platform's
-- events, reviews, user tags and no-shows. Times are UTC milliseconds since the epoch.

-- What to send, to whom and when. The trigger is JSON: {"cron": "0 9 * * mon", "zone": "Europe/Rome"},
-- {"at": 1767254400000}, {"anchor": "start", "offset_ms": -86400000} (tour-relative) or
-- {"event": "booking.confirmed", "delay_ms": 0} (a rule); the audience is JSON too.
CREATE TABLE schedules (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL CHECK (kind IN ('reminder', 'rule', 'review')),
  name        TEXT NOT NULL,
  template    TEXT NOT NULL,
  category    TEXT,                     -- NULL: the template's
  audience    TEXT NOT NULL,
  trig        TEXT NOT NULL,
  channels    TEXT NOT NULL DEFAULT '["auto"]',
  vars        TEXT NOT NULL DEFAULT '{}',
  catch_up    TEXT NOT NULL DEFAULT 'once' CHECK (catch_up IN ('once', 'skip')),
  state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'removed')),
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
-- A name is unique among the schedules not removed (removed ones stay, their firings name them).
CREATE UNIQUE INDEX schedules_name ON schedules (kind, name) WHERE state != 'removed';

-- Every firing has an identity: schedule, due time, recipient (0: the whole audience, resolved when
-- it fires), tour and event (0: none). It is marked fired in the transaction that enqueues its
-- notification, so a crash between the two sends neither twice nor never.
CREATE TABLE firings (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  schedule_id     INTEGER NOT NULL REFERENCES schedules (id),
  due_at          INTEGER NOT NULL,
  user_id         INTEGER NOT NULL DEFAULT 0,
  tour_id         INTEGER NOT NULL DEFAULT 0,
  event_id        INTEGER NOT NULL DEFAULT 0,
  step            INTEGER NOT NULL DEFAULT 0,   -- review requests: 0 the request, 1.. the nudges
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'fired', 'skipped', 'cancelled')),
  notification_id INTEGER,
  done_at         INTEGER,
  note            TEXT,                          -- why skipped or cancelled
  UNIQUE (schedule_id, due_at, user_id, tour_id, event_id)
);
CREATE INDEX firings_due ON firings (due_at) WHERE state = 'pending';
CREATE INDEX firings_tour ON firings (tour_id, user_id) WHERE tour_id != 0;
CREATE INDEX firings_schedule ON firings (schedule_id, state);

-- Events the booking platform posts (event.post); the same idempotency key twice is one event.
CREATE TABLE platform_events (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  type            TEXT NOT NULL,
  user_id         INTEGER NOT NULL,
  tour_id         INTEGER,
  vars            TEXT NOT NULL DEFAULT '{}',
  idempotency_key TEXT UNIQUE,
  posted_by       TEXT NOT NULL,
  received_at     INTEGER NOT NULL
);

-- A recorded review stops the review requests for that tour and person.
CREATE TABLE reviews (
  tour_id     INTEGER NOT NULL,
  user_id     INTEGER NOT NULL,
  source      TEXT NOT NULL,          -- 'event' (review.submitted) or 'link'
  reviewed_at INTEGER NOT NULL,
  PRIMARY KEY (tour_id, user_id)
);

CREATE TABLE user_tags (
  user_id INTEGER NOT NULL,
  tag     TEXT NOT NULL,
  PRIMARY KEY (user_id, tag)
);
CREATE INDEX user_tags_tag ON user_tags (tag);

ALTER TABLE tour_participants ADD COLUMN no_show INTEGER NOT NULL DEFAULT 0;
