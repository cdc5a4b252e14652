-- Users, access tokens and tours. Times are UTC milliseconds since the epoch.
CREATE TABLE users (
  id                   INTEGER PRIMARY KEY,
  handle               TEXT NOT NULL UNIQUE,
  display_name         TEXT NOT NULL,
  role                 TEXT NOT NULL CHECK (role IN ('tourist', 'guide', 'operator')),
  email                TEXT,
  phone                TEXT,
  language             TEXT NOT NULL,
  time_zone            TEXT NOT NULL,
  quiet_start          INTEGER,           -- minutes after local midnight
  quiet_end            INTEGER,
  marketing_consent    INTEGER NOT NULL DEFAULT 0,
  marketing_consent_at INTEGER,           -- when consent was last given or withdrawn
  disabled             INTEGER NOT NULL DEFAULT 0,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);

CREATE TABLE tokens (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id),
  label        TEXT NOT NULL DEFAULT '',
  hash         TEXT NOT NULL UNIQUE,      -- SHA-256 of the secret; the secret itself is never stored
  prefix       TEXT NOT NULL,             -- first characters, to recognise a token in listings
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE tours (
  id            INTEGER PRIMARY KEY,
  title         TEXT NOT NULL,
  starts_at     INTEGER NOT NULL,
  ends_at       INTEGER NOT NULL,
  time_zone     TEXT NOT NULL,
  meeting_label TEXT,
  meeting_lat   REAL,
  meeting_lon   REAL,
  guide_id      INTEGER REFERENCES users (id),
  status        TEXT NOT NULL DEFAULT 'scheduled'
                CHECK (status IN ('scheduled', 'running', 'finished', 'cancelled')),
  cancel_reason TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  CHECK (ends_at > starts_at)
);
CREATE INDEX tours_guide ON tours (guide_id);
CREATE INDEX tours_starts ON tours (starts_at);

CREATE TABLE tour_participants (
  tour_id   INTEGER NOT NULL REFERENCES tours (id),
  user_id   INTEGER NOT NULL REFERENCES users (id),
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (tour_id, user_id)
) WITHOUT ROWID;
CREATE INDEX tour_participants_user ON tour_participants (user_id);
