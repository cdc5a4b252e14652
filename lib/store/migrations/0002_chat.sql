-- Chat: conversations, members with their receipts, messages with full-text search, and files.
-- Times are UTC milliseconds since the epoch. Sender and owner id 0 stand for the platform
-- itself (an operator on the control socket, or a system message).

CREATE TABLE conversations (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'tour')),
  title           TEXT NOT NULL DEFAULT '',
  owner_id        INTEGER NOT NULL DEFAULT 0,
  tour_id         INTEGER UNIQUE REFERENCES tours (id),
  direct_key      TEXT UNIQUE,           -- "low:high" user ids: one direct conversation per pair
  last_seq        INTEGER NOT NULL DEFAULT 0,
  last_message_at INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- Receipts are two numbers per member, not one row per message per reader.
CREATE TABLE conversation_members (
  conversation_id INTEGER NOT NULL REFERENCES conversations (id),
  user_id         INTEGER NOT NULL REFERENCES users (id),
  joined_at       INTEGER NOT NULL,
  delivered_seq   INTEGER NOT NULL DEFAULT 0,
  read_seq        INTEGER NOT NULL DEFAULT 0,
  muted           INTEGER NOT NULL DEFAULT 0,
  archived        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX conversation_members_user ON conversation_members (user_id);

CREATE TABLE files (
  id           INTEGER PRIMARY KEY,
  sha256       TEXT NOT NULL,             -- the blob is files/<first two>/<sha256> under the state dir
  size         INTEGER NOT NULL,
  content_type TEXT NOT NULL,             -- sniffed from the bytes, never taken from the client
  name         TEXT NOT NULL,             -- the client's name, for display only; never a path
  width        INTEGER,
  height       INTEGER,
  uploader_id  INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL
);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_created ON files (created_at);

-- Rows are appended in id order, so a commit touches the table's last pages; (conversation, seq)
-- is the history index.
CREATE TABLE messages (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  sender_id       INTEGER NOT NULL DEFAULT 0,
  client_id       TEXT,
  kind            TEXT NOT NULL CHECK (kind IN ('text', 'file', 'location', 'system')),
  body            TEXT NOT NULL DEFAULT '',
  data            TEXT,                   -- JSON: location fields, system event details
  file_id         INTEGER,
  created_at      INTEGER NOT NULL,
  edited_at       INTEGER,
  deleted_at      INTEGER
);
CREATE UNIQUE INDEX messages_seq ON messages (conversation_id, seq);
CREATE UNIQUE INDEX messages_client ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_file ON messages (file_id) WHERE file_id IS NOT NULL;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
  body, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
  INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;

ALTER TABLE users ADD COLUMN last_seen_at INTEGER;

-- Every tour has its conversation; its members are the guide and the participants.
INSERT INTO conversations (kind, title, tour_id, created_at, updated_at)
  SELECT 'tour', title, id, created_at, updated_at FROM tours;
INSERT INTO conversation_members (conversation_id, user_id, joined_at)
  SELECT c.id, t.guide_id, t.created_at FROM tours t JOIN conversations c ON c.tour_id = t.id
  WHERE t.guide_id IS NOT NULL;
INSERT OR IGNORE INTO conversation_members (conversation_id, user_id, joined_at)
  SELECT c.id, p.user_id, p.joined_at FROM tour_participants p JOIN conversations c ON c.tour_id = p.tour_id;
