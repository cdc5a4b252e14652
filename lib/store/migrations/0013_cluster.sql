-- Several nodes on one store (docs/scaling.md): every node says it is alive here every few
-- seconds (nodes), and a notification job a node took is marked with its name (claimed_by) until
-- its attempt is recorded; a job whose node stopped saying it is alive may be taken again. On
-- SQLite there is one node, and claims are not used.
CREATE TABLE nodes (
  name        TEXT PRIMARY KEY,
  version     TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  listen      TEXT NOT NULL,
  leader      INTEGER NOT NULL DEFAULT 0,   -- runs the schedules, campaigns, alerts and translations
  connections INTEGER NOT NULL DEFAULT 0,   -- client WebSocket and Socket.IO sessions
  started_at  INTEGER NOT NULL,
  seen_at     INTEGER NOT NULL
);

ALTER TABLE notify_jobs ADD COLUMN claimed_by TEXT;
