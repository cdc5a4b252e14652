-- Tour previews and their recordings (docs/previews.md): a guide broadcasts through Janus to
-- viewers tourbusd admits. Ids are never reused: viewers, pushes and recordings name previews,
-- and a recording's file is a chat file (files), deleted with it when files expire.
CREATE TABLE previews (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  guide_id     INTEGER NOT NULL REFERENCES users (id),
  tour_id      INTEGER REFERENCES tours (id),
  title        TEXT NOT NULL,
  access       TEXT NOT NULL CHECK (access IN ('tour', 'tourists', 'link')),
  link_hash    TEXT,                 -- SHA-256 of the link secret (access 'link')
  room_secret  TEXT NOT NULL,        -- the Janus room's secret and pin; never leaves tourbusd
  state        TEXT NOT NULL CHECK (state IN ('live', 'ended')),
  recording    INTEGER NOT NULL DEFAULT 0,
  peak_viewers INTEGER NOT NULL DEFAULT 0,
  started_at   INTEGER NOT NULL,
  ended_at     INTEGER
);
CREATE INDEX previews_state ON previews (state, started_at);
CREATE INDEX previews_guide ON previews (guide_id, started_at);

CREATE TABLE recordings (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  preview_id  INTEGER NOT NULL REFERENCES previews (id),
  file_id     INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  duration_ms INTEGER,
  created_at  INTEGER NOT NULL
);
CREATE INDEX recordings_preview ON recordings (preview_id);
CREATE INDEX recordings_file ON recordings (file_id);
