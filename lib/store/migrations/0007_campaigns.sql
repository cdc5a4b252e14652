-- Campaigns and their recipients, unsubscribes, signing secrets, and per-job unsubscribe links.

-- A campaign sends a marketing template to a segment, throttled, in each recipient's waking hours.
CREATE TABLE campaigns (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  name            TEXT NOT NULL UNIQUE,
  template        TEXT NOT NULL,
  segment         TEXT NOT NULL,
  channels        TEXT NOT NULL DEFAULT '["auto"]',
  vars            TEXT NOT NULL DEFAULT '{}',
  state           TEXT NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'done', 'cancelled')),
  start_at        INTEGER,                   -- when a scheduled campaign starts
  rate_per_second INTEGER NOT NULL DEFAULT 0, -- per channel; 0: campaign.rate_per_second
  pause_reason    TEXT,
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER
);

-- Who a started campaign targets: fixed when it starts, one row each, moved from pending to
-- queued (with its notification) in the transaction that enqueues it, so a restart neither
-- skips nor repeats anyone.
CREATE TABLE campaign_recipients (
  campaign_id     INTEGER NOT NULL,
  user_id         INTEGER NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'queued', 'skipped', 'cancelled')),
  not_before      INTEGER NOT NULL DEFAULT 0,  -- held until then (quiet hours in the recipient's zone)
  reason          TEXT,                        -- why skipped: no_consent, frequency_cap, disabled, no_channel
  notification_id INTEGER,
  done_at         INTEGER,
  PRIMARY KEY (campaign_id, user_id)
);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (campaign_id, not_before) WHERE state = 'pending';

CREATE TABLE unsubscribes (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id     INTEGER NOT NULL,
  campaign_id INTEGER NOT NULL DEFAULT 0,   -- the campaign whose message carried the link (0: none)
  source      TEXT NOT NULL,                -- link, one-click
  at          INTEGER NOT NULL
);
CREATE INDEX unsubscribes_campaign ON unsubscribes (campaign_id);

-- Keys the daemon makes for itself (the key signing unsubscribe and review links).
CREATE TABLE secrets (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- A marketing e-mail's List-Unsubscribe target, signed for its recipient.
ALTER TABLE notify_jobs ADD COLUMN unsubscribe_url TEXT;
-- Frequency caps count a user's recent notifications.
CREATE INDEX notify_jobs_user ON notify_jobs (user_id, created_at);
