-- Clicks on the tracked link of a campaign message (campaign.tracking = "on"), one row per person.
CREATE TABLE campaign_clicks (
  campaign_id INTEGER NOT NULL,
  user_id     INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, user_id)
);
