-- PostgreSQL translation of ../0005_upload_quota.sql.
-- files.max_bytes_per_user_per_day sums a user's uploads of the last 24 hours.
CREATE INDEX files_uploader ON files (uploader_id, created_at);
