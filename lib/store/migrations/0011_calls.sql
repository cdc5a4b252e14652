-- Calls (docs/calls.md): WebRTC signalling goes through tourbusd, media never does. A call
-- belongs to a conversation; its record stays (who, when, how long, how it ended) and a system
-- message in the conversation says so. Ids are never reused: quality samples and notifications
-- name calls.
CREATE TABLE calls (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id INTEGER NOT NULL REFERENCES conversations (id),
  caller_id       INTEGER NOT NULL REFERENCES users (id),
  video           INTEGER NOT NULL DEFAULT 1,
  state           TEXT NOT NULL CHECK (state IN ('ringing', 'active', 'ended')),
  -- completed (someone answered), missed (nobody answered in time), declined, busy, cancelled
  -- (the caller gave up first), failed (tourbusd stopped while it lasted)
  outcome         TEXT CHECK (outcome IN ('completed', 'missed', 'declined', 'busy', 'cancelled', 'failed')),
  created_at      INTEGER NOT NULL,
  answered_at     INTEGER,
  ended_at        INTEGER,
  ended_by        INTEGER,
  -- quality summary over every sample the members reported (call.stats)
  samples         INTEGER NOT NULL DEFAULT 0,
  rtt_ms          REAL,
  loss_percent    REAL,
  bitrate_kbps    REAL,
  fps             REAL,
  height          INTEGER,
  score           TEXT CHECK (score IN ('good', 'fair', 'poor')),
  worst_score     TEXT CHECK (worst_score IN ('good', 'fair', 'poor'))
);
CREATE INDEX calls_conversation ON calls (conversation_id, created_at);
CREATE INDEX calls_open ON calls (state) WHERE state <> 'ended';

CREATE TABLE call_members (
  call_id   INTEGER NOT NULL REFERENCES calls (id),
  user_id   INTEGER NOT NULL REFERENCES users (id),
  -- invited (ringing), joined, declined, busy, missed, left, cancelled
  state     TEXT NOT NULL,
  joined_at INTEGER,
  left_at   INTEGER,
  PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_members_user ON call_members (user_id);
