-- PostgreSQL translation of ../0008_campaign_tracking.sql.
-- Clicks on the tracked link of a campaign message (campaign.tracking = "on"), one row per person.
CREATE TABLE campaign_clicks (
  campaign_id BIGINT NOT NULL,
  user_id     BIGINT NOT NULL,
  at          BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, user_id)
);
