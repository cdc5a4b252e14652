-- PostgreSQL counterpart of ../0004_ids.sql: ids are never reused.
--
-- In SQLite this migration rebuilds tokens, files, notify_jobs, notify_attempts,
-- push_subscriptions and devices with AUTOINCREMENT (copy, drop, rename), because without it
-- SQLite hands out the highest rowid again after that row is deleted. PostgreSQL needs no rebuild:
-- those ids have been identity columns since 0001-0003, and a sequence never hands out a number
-- twice (not after a delete, not after a rolled back insert). Their columns, constraints and
-- indexes are already what SQLite has after its rebuild.
--
-- What is left is the second half: raise each sequence past every id still named elsewhere, as
-- SQLite's sqlite_sequence is raised, so that a row inserted with an explicit id (an import, a
-- restore) cannot lend that id again. On a new database every table is empty and nothing moves.
-- A sequence is only ever raised here, never lowered.
DO $$
DECLARE
  f    record;
  seq  text;
  used bigint;
BEGIN
  FOR f IN
    SELECT 'tokens' AS name, (SELECT coalesce(max(id), 0) FROM tokens) AS floor
    UNION ALL
    SELECT 'files', greatest((SELECT coalesce(max(id), 0) FROM files), (SELECT coalesce(max(file_id), 0) FROM messages))
    UNION ALL
    SELECT 'notify_jobs', greatest((SELECT coalesce(max(id), 0) FROM notify_jobs),
                                   (SELECT coalesce(max(job_id), 0) FROM notify_attempts))
    UNION ALL
    SELECT 'notify_attempts', (SELECT coalesce(max(id), 0) FROM notify_attempts)
    UNION ALL
    -- A job's address names a subscription or a device by its id. SQLite's CAST(address AS INTEGER)
    -- reads the leading integer of the text (0 if there is none); so does the substring here.
    SELECT 'push_subscriptions', greatest(
      (SELECT coalesce(max(id), 0) FROM push_subscriptions),
      (SELECT coalesce(max(coalesce(substring(address FROM '^\s*([+-]?[0-9]{1,18})')::bigint, 0)), 0)
         FROM notify_jobs WHERE channel = 'webpush'))
    UNION ALL
    SELECT 'devices', greatest(
      (SELECT coalesce(max(id), 0) FROM devices),
      (SELECT coalesce(max(coalesce(substring(address FROM '^\s*([+-]?[0-9]{1,18})')::bigint, 0)), 0)
         FROM notify_jobs WHERE channel IN ('fcm', 'apns')))
  LOOP
    seq := pg_get_serial_sequence(f.name, 'id');
    EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s', seq) INTO used;
    IF f.floor > used THEN
      PERFORM setval(seq, f.floor);  -- the next id is floor + 1
    END IF;
  END LOOP;
END
$$;
