-- Safety: live location during tours, emergency alerts with their roll-call and escalation
-- ladder, SOS and the operators' duty roster. Times are UTC milliseconds since the epoch.
-- Locations are personal data: kept for location.retention_hours, then deleted (the store runs
-- with secure_delete, so deleted rows are overwritten in the file, not left in free pages).

-- A participant's consent to share their position with the group of a tour; withdrawn at any time.
CREATE TABLE location_consents (
  tour_id    INTEGER NOT NULL REFERENCES tours (id),
  user_id    INTEGER NOT NULL REFERENCES users (id),
  sharing    INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tour_id, user_id)
) WITHOUT ROWID;

-- Whether the tourists of a tour see each other on the map (the guide decides; default no).
ALTER TABLE tours ADD COLUMN group_locations INTEGER NOT NULL DEFAULT 0;

-- Each person's last known position (what alerts target by area) and the trail behind it.
CREATE TABLE locations (
  user_id  INTEGER PRIMARY KEY REFERENCES users (id),
  tour_id  INTEGER NOT NULL,
  lat      REAL NOT NULL,
  lon      REAL NOT NULL,
  accuracy REAL,
  heading  REAL,
  speed    REAL,
  battery  REAL,
  at       INTEGER NOT NULL
);
CREATE INDEX locations_lat ON locations (lat, lon);
CREATE INDEX locations_at ON locations (at);

CREATE TABLE location_trail (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id  INTEGER NOT NULL,
  tour_id  INTEGER NOT NULL,
  lat      REAL NOT NULL,
  lon      REAL NOT NULL,
  accuracy REAL,
  at       INTEGER NOT NULL
);
CREATE INDEX location_trail_at ON location_trail (at);
CREATE INDEX location_trail_tour ON location_trail (tour_id, user_id, at);

-- Operators on duty: who SOS calls and the last rung of every escalation reach.
CREATE TABLE duty (
  user_id INTEGER PRIMARY KEY REFERENCES users (id),
  since   INTEGER NOT NULL,
  by      TEXT NOT NULL
);

-- An emergency alert, shaped after CAP 1.2: the document itself as JSON (cap), whom it targets
-- (targets, JSON) and its own escalation rule. An Update or a Cancel is an alert of its own that
-- references the one it changes (updates); its recipients are the original's.
CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  identifier      TEXT NOT NULL UNIQUE,
  msg_type        TEXT NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
  status          TEXT NOT NULL,
  category        TEXT NOT NULL DEFAULT 'emergency',  -- a tracked notification's own category (notify.send escalate)
  updates         INTEGER REFERENCES alerts (id),
  cap             TEXT NOT NULL,
  targets         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'sending' CHECK (state IN ('sending', 'sent', 'cancelled', 'closed')),
  group_percent   INTEGER,   -- "if fewer than group_percent% answered after group_minutes,
  group_minutes   INTEGER,   --  notify group_targets" (NULL: no such rule)
  group_targets   TEXT,
  group_done_at   INTEGER,
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX alerts_state ON alerts (state);

-- Who an alert reached and their roll-call: answer NULL until they (or their guide) answer.
-- reason: area, tour, role, user or group (the group rule). rung: the last escalation step taken
-- (0: the alert itself); next_at: when the next one is due (NULL: none).
CREATE TABLE alert_recipients (
  alert_id     INTEGER NOT NULL REFERENCES alerts (id),
  user_id      INTEGER NOT NULL REFERENCES users (id),
  reason       TEXT NOT NULL,
  tour_id      INTEGER,
  guide_id     INTEGER,
  language     TEXT NOT NULL,
  notified_at  INTEGER,          -- NULL: not yet sent (the fan-out resumes from here after a crash)
  channels     TEXT,             -- JSON list of the channels the alert went out on
  answer       TEXT CHECK (answer IN ('safe', 'need_help')),
  answered_at  INTEGER,
  answered_via TEXT,
  answered_by  TEXT,
  rung         INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER,
  incident     INTEGER,          -- the incident conversation of a need-help answer
  PRIMARY KEY (alert_id, user_id)
) WITHOUT ROWID;
CREATE INDEX alert_recipients_unsent ON alert_recipients (alert_id, user_id) WHERE notified_at IS NULL;
CREATE INDEX alert_recipients_due ON alert_recipients (next_at) WHERE answer IS NULL AND next_at IS NOT NULL;
CREATE INDEX alert_recipients_user ON alert_recipients (user_id);

-- Every escalation step taken, for alert.status.
CREATE TABLE alert_rungs (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  user_id  INTEGER,               -- NULL: the group rule
  rung     TEXT NOT NULL,         -- renotify, sms, guide, operators, group
  detail   TEXT NOT NULL,
  at       INTEGER NOT NULL
);
CREATE INDEX alert_rungs_alert ON alert_rungs (alert_id, id);

-- SOS: raised by a person, rings their guide and the operators on duty until acknowledged.
CREATE TABLE sos (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id       INTEGER NOT NULL REFERENCES users (id),
  client_id     TEXT,
  tour_id       INTEGER,
  lat           REAL,
  lon           REAL,
  accuracy      REAL,
  located_at    INTEGER,
  note          TEXT,
  state         TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
  conversation  INTEGER,
  rings         INTEGER NOT NULL DEFAULT 1,
  next_ring_at  INTEGER,
  raised_at     INTEGER NOT NULL,
  acked_by      TEXT,
  acked_at      INTEGER,
  resolved_by   TEXT,
  resolved_at   INTEGER,
  resolution    TEXT,
  UNIQUE (user_id, client_id)
);
CREATE INDEX sos_state ON sos (state);
CREATE INDEX sos_ring ON sos (next_ring_at) WHERE state = 'open';
