-- Multilingual chat (docs/translation.md). A message keeps its original text and says which
-- language it is in and how that was known; translations are annotations stored per message and
-- language beside it, never replacing it.
ALTER TABLE messages ADD COLUMN lang TEXT;                       -- primary language subtag (es, en, ...)
ALTER TABLE messages ADD COLUMN lang_method TEXT;                -- client, detected or sender
ALTER TABLE messages ADD COLUMN translate INTEGER NOT NULL DEFAULT 1;  -- 0: "do not translate"

-- Switches: a person's own (on by default), a conversation's default for its members, and a
-- member's choice for one conversation (NULL: the conversation's default).
ALTER TABLE users ADD COLUMN translate INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversations ADD COLUMN translate INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversation_members ADD COLUMN translate INTEGER;

CREATE TABLE translations (
  message_id INTEGER NOT NULL REFERENCES messages (id),
  lang       TEXT NOT NULL,
  text       TEXT NOT NULL,
  provider   TEXT NOT NULL,             -- apertium, libretranslate, deepl
  pivot      TEXT,                      -- the language in between on a pivot chain
  created_at INTEGER NOT NULL,
  PRIMARY KEY (message_id, lang)
);

-- Messages are read in id order after this cursor; those whose translation failed (a provider
-- down, over quota) wait here with their next attempt, as do edited messages.
CREATE TABLE translation_cursor (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  message_id INTEGER NOT NULL
);
INSERT INTO translation_cursor (id, message_id) SELECT 1, COALESCE(MAX(id), 0) FROM messages;

CREATE TABLE translation_jobs (
  message_id INTEGER PRIMARY KEY REFERENCES messages (id),
  due_at     INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX translation_jobs_due ON translation_jobs (due_at);

-- "No translation from X to Y here" is said once per conversation and pair.
CREATE TABLE translation_notices (
  conversation_id INTEGER NOT NULL,
  source          TEXT NOT NULL,
  target          TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, source, target)
);

-- Protected terms (places, attractions, meeting points, names): never translated.
CREATE TABLE glossary (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  term       TEXT NOT NULL,
  term_key   TEXT NOT NULL UNIQUE,        -- lower case, for lookups
  note       TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
