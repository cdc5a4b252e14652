"""Moving an installation from SQLite to PostgreSQL (docs/scaling.md): `tourbus migrate-store`
copies the live SQLite store of a running tourbusd into an empty PostgreSQL database, the daemon
then refuses every write (reads go on), and the same state dir started again with cluster.postgres
finds everything: users, tokens that still authenticate, the tour and its participants, every
message with its seq, sender and text, search, a delivered notification and its idempotency key,
a webhook retry that falls due while writes are refused (sent once, after the restart, not from
the refusing daemon), and ids that go on past the highest SQLite ever gave (a deleted row's id
included). Removing cluster.postgres goes back to the untouched SQLite file.

The daemon starts on SQLite, so the harness must not give it a PostgreSQL database of its own:
the server comes from TOURBUS_MIGRATE_POSTGRES_FILE (the CTest fixture postgres writes the file),
not TOURBUS_TEST_POSTGRES_FILE, the password from TOURBUS_TEST_POSTGRES_PASSWORD. Run by hand
without it, the scenario starts a throwaway server of its own (tests/postgres.py)."""

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import TOURBUS, WAIT, Daemon, wait_until
from peers import HttpPeer

EXIT_INVALID, EXIT_UNAVAILABLE = 4, 6  # tourbus(1): invalid input or conflict; unavailable


def server(test):
    """(base conninfo without dbname, password) of the PostgreSQL server to copy into."""
    path = os.environ.get("TOURBUS_MIGRATE_POSTGRES_FILE")
    password = os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD")
    if path:
        with open(path) as f:
            base = f.readline().strip()
    else:
        base = harness.postgres_base()  # by hand, with the harness's own variables
    # This scenario's daemon starts on SQLite: no harness database for it.
    for name in ("TOURBUS_TEST_POSTGRES", "TOURBUS_TEST_POSTGRES_FILE"):
        os.environ.pop(name, None)
    if base:
        return base, password
    pg_module = harness.postgres()
    cluster = tempfile.mkdtemp(prefix="tourbus-pg-")
    os.chmod(cluster, 0o755)  # the postgres user must reach it when we are root
    test.addCleanup(shutil.rmtree, cluster, True)
    pg = pg_module.Postgres().start(os.path.join(cluster, "pg"))
    test.addCleanup(pg.stop)
    return pg.conninfo(), pg.password


class MigrateStore(unittest.TestCase):
    def setUp(self):
        self.base, self.password = server(self)
        self.assertFalse(harness.postgres_base(), "the harness would put the daemon on PostgreSQL")
        self.database = "migrate_%d" % os.getpid()
        pg = harness.postgres()
        pg.create_database_as(self.base, self.password, self.database, replace=True)
        self.addCleanup(pg.drop_database_as, self.base, self.password, self.database)
        self.conninfo = "%s dbname=%s" % (self.base, self.database)
        # A webhook receiver, and retries slow enough that the copy is made between two attempts
        # (the first retry comes 4-8 s after the first attempt).
        self.hook = HttpPeer()
        self.addCleanup(self.hook.close)
        self.config = ('[webhook]\nurl = "%s/hook"\nsecret = "hook-secret"\n\n[notify]\nretry_base_ms = 8000\n'
                       % self.hook.url)
        self.d = Daemon(config=self.config)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    # -- helpers ---------------------------------------------------------------------------------
    def ok(self, *args):
        r = self.d.cli(*args)
        self.assertEqual(r.returncode, 0, "tourbus %s: %s %s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def json_lines(self, *args):
        return [json.loads(l) for l in self.ok("--json", *args).stdout.splitlines()]

    def cli_input(self, text, *args):
        """The CLI with `text` on its standard input."""
        env = dict(os.environ, TOURBUS_SOCKET=self.d.socket)
        env.pop("TOURBUS_CONFIG", None)
        return subprocess.run([TOURBUS] + list(args), input=text, capture_output=True, text=True, env=env,
                              timeout=WAIT)

    def assertFails(self, r, exit_code, code, field=None):
        """A --json run that failed with this exit status and API error code (and field)."""
        self.assertEqual(r.returncode, exit_code, "stdout=%s stderr=%s" % (r.stdout, r.stderr))
        self.assertTrue(r.stderr.startswith("tourbus: "), r.stderr)
        error = json.loads(r.stdout)["error"]
        self.assertEqual(error["code"], code, error)
        if field:
            self.assertEqual(error.get("field"), field, error)
        return error

    def snapshot(self):
        """Everything the scenario compares across the move, as the API shows it."""
        conversations = sorted(c["id"] for c in self.json_lines("conversation", "list"))
        return {
            "users": self.json_lines("user", "list"),
            "tour": self.d.cli_json("tour", "show", str(self.tour)),
            "group": self.d.cli_json("conversation", "show", str(self.group)),
            "conversations": conversations,
            "messages": {c: [json.loads(l) for l in self.ok("conversation", "export", str(c)).stdout.splitlines()]
                         for c in conversations},
            "glossary": self.json_lines("glossary", "list"),
            # last_used_at moves whenever the token is used
            "tokens": [{k: v for k, v in t.items() if k != "last_used_at"} for t in self.json_lines("token", "list", "--all")],
            "job": self.d.cli_json("notify", "show", str(self.job)),
        }

    def search(self, conversation, words):
        return [(m["seq"], m["text"]) for m in self.json_lines("conversation", "search", str(conversation), words)]

    def me(self, token):
        status, _, body = self.d.http("GET", "/v1/me", token=token)
        self.assertEqual(status, 200, body)
        return body["handle"]

    # -- the scenario ----------------------------------------------------------------------------
    def test_copy_to_postgres_refuse_writes_restart_on_it_and_roll_back(self):
        d = self.d
        self.assertEqual(d.cli_json("status")["store"]["engine"], "sqlite")

        # An installation with a bit of everything.
        for handle, role, extra in [
            ("olga", "operator", ["--name", "Olga Ops"]),
            ("gina", "guide", ["--name", "Gina Guida", "--language", "it", "--tz", "Europe/Rome"]),
            ("anna", "tourist", ["--name", "Ánna Rössi", "--phone", "+393331234567", "--quiet-hours", "22:00-07:00",
                                 "--marketing-consent", "yes"]),
            ("ben", "tourist", ["--name", "Ben O'Brien", "--email", "ben@example.com"]),
            ("carla", "tourist", ["--name", "Carla"]),
        ]:
            self.ok("user", "add", handle, "--role", role, *extra)
        token = self.ok("token", "issue", "anna", "--label", "phone").stdout.strip()
        self.assertEqual(self.me(token), "anna")
        tour = d.cli_json("tour", "add", "--title", "Trevi walk", "--start", "2026-12-01T10:00", "--end",
                          "2026-12-01T12:00", "--tz", "Europe/Rome", "--guide", "gina", "-p", "anna", "-p", "ben",
                          "--meeting", "Trevi", "--lat", "41.9009", "--lon", "12.4833")
        self.tour, tour_chat = tour["id"], tour["conversation"]
        self.group = d.cli_json("--as", "gina", "conversation", "create", "group", "anna", "ben", "carla",
                                "-t", "Rossi family")["id"]
        self.ok("send", str(tour_chat), "Meet at the fountain at 10")
        for who, args in [("anna", ["Ci vediamo alla fontana"]),
                          ("ben", ["Café at the corner at ten", "--client-id", "ben-1"]),
                          ("gina", ["--location", "41.9009", "12.4833", "--label", "Trevi"]),
                          ("carla", ["Running late, sorry\nten minutes"])]:
            self.ok("--as", who, "send", str(self.group), *args)
        self.ok("send", str(self.group), "The bus leaves at 18:00")
        # A glossary term removed: SQLite's AUTOINCREMENT remembers its id, which must never come back.
        self.ok("glossary", "add", "Colosseo")
        removed = d.cli_json("glossary", "add", "Fontana di Trevi")["id"]
        self.ok("glossary", "remove", str(removed))
        # A notification delivered to the feed, with an idempotency key.
        sent = d.cli_json("notify", "send", "--to", "anna", "-c", "transactional", "-s", "Welcome", "--text",
                          "Your tour starts tomorrow", "--channel", "inapp", "-k", "welcome-anna")
        self.job, notification = sent["jobs"][0]["id"], sent["notification"]
        wait_until(lambda: d.cli_json("notify", "show", str(self.job))["state"] == "delivered", "the feed item")

        # Refused before anything is copied: a password in the connection string (either form),
        # no connection string at all, a wrong password (from standard input).
        mark = d.log_mark()
        for conninfo in [self.conninfo + " password=hunter2", "postgresql://tourbus:hunter2@127.0.0.1/%s" % self.database]:
            self.assertFails(d.cli("--json", "migrate-store", "--postgres", conninfo), EXIT_INVALID, "invalid_argument",
                             "postgres")
        status, body = d.curl("POST", "/v1/store/migrate", {"postgres": ""})
        self.assertEqual((status, body["error"]["code"], body["error"].get("field")), (400, "invalid_argument", "postgres"))
        r = self.cli_input("not-the-password\n", "--json", "migrate-store", "--postgres", self.conninfo,
                           "--password-file", "-")
        error = self.assertFails(r, EXIT_UNAVAILABLE, "unavailable")
        self.assertIn("password authentication failed", error["message"])  # it says why
        self.assertNotIn("not-the-password", r.stdout + r.stderr)
        # None of that stopped the writes.
        self.ok("user", "add", "dora", "--role", "tourist")

        before = self.snapshot()
        handles = [u["handle"] for u in before["users"]]
        self.assertEqual(handles, ["olga", "gina", "anna", "ben", "carla", "dora"])
        self.assertEqual(sorted(before["conversations"]), sorted([tour_chat, self.group]))
        group_messages = before["messages"][self.group]
        self.assertEqual([m["sender"] for m in group_messages if m["kind"] != "system"],
                         ["anna", "ben", "gina", "carla", None])
        anna_seq = next(m["seq"] for m in group_messages if m["sender"] == "anna")
        self.assertEqual(self.search(self.group, "fontana"), [(anna_seq, "Ci vediamo alla fontana")])
        self.assertEqual([t for _, t in self.search(self.group, "cafe")], ["Café at the corner at ten"])
        message_count = sum(len(m) for m in before["messages"].values())
        highest_user = max(u["id"] for u in before["users"])
        highest_message = max(m["id"] for ms in before["messages"].values() for m in ms)
        last_seq = group_messages[-1]["seq"]

        # A webhook notification whose first attempt failed: its retry falls due after the copy.
        self.hook.respond("/hook", 503)
        webhook = d.cli_json("notify", "send", "--to", "ben", "-c", "transactional", "--text", "Pick-up moved to 9:15",
                             "--channel", "webhook", "-k", "pickup-ben")["jobs"][0]["id"]
        self.hook.wait_requests(1, where="/hook")
        retry = wait_until(lambda: (lambda j: j if j["attempts"] == 1 else None)(d.cli_json("notify", "show", str(webhook))),
                           "the first webhook attempt to be recorded")
        self.assertEqual(retry["state"], "queued")

        # The copy.
        password_file = os.path.join(d.dir, "pg-password")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.password + "\n")
        r = d.cli("migrate-store", "--postgres", self.conninfo, "--password-file", password_file)
        self.assertEqual(r.returncode, 0, "stdout=%s stderr=%s" % (r.stdout, r.stderr))
        self.assertNotIn(self.password, r.stdout + r.stderr)
        counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^([a-z_0-9]+): (\d+)$", r.stdout, re.M)}
        self.assertEqual(list(counts), sorted(counts), r.stdout)  # one line a table, by name
        self.assertEqual((counts["users"], counts["messages"], counts["tours"], counts["tour_participants"],
                          counts["tokens"], counts["glossary"], counts["notifications"], counts["notify_jobs"]),
                         (6, message_count, 1, 2, 1, 1, 2, 2), r.stdout)
        self.assertNotIn("messages_fts", counts)  # SQLite's search index is made again by PostgreSQL
        total = re.search(r"^total: (\d+) rows in (\d+) tables \(schema version (\d+)\)$", r.stdout, re.M)
        self.assertIsNotNone(total, r.stdout)
        self.assertEqual((int(total.group(1)), int(total.group(2))), (sum(counts.values()), len(counts)))
        schema_version = int(total.group(3))
        self.assertEqual(schema_version, d.cli_json("status")["store"]["schema_version"])
        self.assertIn("set cluster.postgres = %s and the credential cluster.postgres_password" % json.dumps(self.conninfo),
                      r.stdout)
        d.wait_for(r'store\.migrated_to_postgres dsn="%s" rows=%d tables=%d' %
                   (re.escape(self.conninfo), sum(counts.values()), len(counts)), start=mark)
        for secret in (self.password, "hunter2", "not-the-password"):
            self.assertNotIn(secret, d.log_text())

        # From now on every write is refused, so that nothing acknowledged is left behind on
        # SQLite; reads go on, also with a token over TCP.
        r = d.cli("--json", "user", "add", "late", "--role", "tourist")
        error = self.assertFails(r, EXIT_UNAVAILABLE, "unavailable")
        self.assertIn("cluster.postgres", error["message"])
        r = d.cli("--as", "anna", "send", str(self.group), "lost?")
        self.assertEqual(r.returncode, EXIT_UNAVAILABLE, r.stderr)
        self.assertIn("restart tourbusd with cluster.postgres set", r.stderr)
        # A second copy needs the writer too.
        r = d.cli("--json", "migrate-store", "--postgres", self.conninfo, "--password-file", password_file)
        self.assertFails(r, EXIT_UNAVAILABLE, "unavailable")
        # Another installation's copy into the same database would mix two stores: refused, and
        # that daemon goes on taking writes.
        other = Daemon()
        self.addCleanup(other.cleanup)
        other.start()
        r = other.cli("--json", "migrate-store", "--postgres", self.conninfo, "--password-file", password_file)
        error = self.assertFails(r, EXIT_INVALID, "conflict")
        self.assertIn("users already", error["message"])
        self.assertEqual(other.cli("user", "add", "zoe", "--role", "tourist").returncode, 0)
        other.stop()
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.me(token), "anna")
        # The webhook's retry falls due now, but a delivery could not be recorded (and would be
        # made again from PostgreSQL, or again and again here): nothing goes out until the restart.
        due = datetime.datetime.fromisoformat(retry["next_at"].replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, due - time.time()) + 2)  # waiting for something not to happen
        self.assertEqual([r.status for r in self.hook.requests], [503])
        self.assertEqual(d.stop(), 0)

        # The same state dir on PostgreSQL, the password as the systemd credential.
        credentials = os.path.join(d.dir, "credentials")
        os.makedirs(credentials, mode=0o700)
        with open(os.open(os.path.join(credentials, "cluster.postgres_password"), os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(self.password)
        d.env["CREDENTIALS_DIRECTORY"] = credentials
        d.write_config(self.config + "\n[cluster]\npostgres = %s\n" % json.dumps(self.conninfo))
        d.start()
        d.wait_for(r"store\.opened engine=postgres .*schema_version=%d" % schema_version)
        store = d.cli_json("status")["store"]
        self.assertEqual((store["engine"], store["schema_version"], store["users"]), ("postgres", schema_version, 6))
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.me(token), "anna")
        # The webhook job goes on where it was: its second attempt, once.
        wait_until(lambda: d.cli_json("notify", "show", str(webhook))["state"] == "delivered", "the webhook retry")
        self.assertEqual([(r.status, r.headers["tourbus-delivery"]) for r in self.hook.requests],
                         [(503, str(webhook)), (200, str(webhook))])
        self.assertEqual(self.search(self.group, "fontana"), [(anna_seq, "Ci vediamo alla fontana")])
        self.assertEqual([t for _, t in self.search(self.group, "cafe")], ["Café at the corner at ten"])
        # The idempotency key came along: the same notification again is the first one.
        again = d.cli_json("notify", "send", "--to", "anna", "-c", "transactional", "-s", "Welcome", "--text",
                           "Your tour starts tomorrow", "--channel", "inapp", "-k", "welcome-anna")
        self.assertEqual((again["duplicate"], again["notification"]), (True, notification))
        # A resend with the same client_id is still recognised.
        resent = d.cli_json("--as", "ben", "send", str(self.group), "Café at the corner at ten", "--client-id", "ben-1")
        self.assertTrue(resent["duplicate"])
        # New rows go on after the old ones; no id comes back, not even a deleted row's.
        self.assertGreater(d.cli_json("user", "add", "erik", "--role", "tourist")["id"], highest_user)
        self.assertGreater(d.cli_json("glossary", "add", "Pantheon")["id"], removed)
        new = d.cli_json("--as", "anna", "send", str(self.group), "Now on PostgreSQL")
        self.assertEqual(new["seq"], last_seq + 1)
        self.assertGreater(new["id"], highest_message)
        # A store that is PostgreSQL already is not copied again.
        r = d.cli("--json", "migrate-store", "--postgres", self.conninfo, "--password-file", password_file)
        error = self.assertFails(r, EXIT_UNAVAILABLE, "unavailable")
        self.assertIn("PostgreSQL already", error["message"])
        self.assertEqual(d.stop(), 0)

        # Rolling back: without cluster.postgres the daemon is back on the SQLite file, which the
        # copy left as it was (what was written on PostgreSQL is not in it), and takes writes again.
        # (Without the webhook: the job delivered from PostgreSQL is still queued in the SQLite file.)
        d.write_config("")
        d.start()
        self.assertEqual(d.cli_json("status")["store"]["engine"], "sqlite")
        self.assertEqual([u["handle"] for u in self.json_lines("user", "list")], handles)
        self.assertEqual(self.json_lines("conversation", "history", str(self.group), "--after", str(last_seq)), [])
        self.ok("user", "add", "late", "--role", "tourist")


if __name__ == "__main__":
    unittest.main()
