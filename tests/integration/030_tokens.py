"""Access tokens: shown once, stored hashed, revocable, role-based permissions over TCP."""

import json
import os

from harness import DaemonTest


class Tokens(DaemonTest):
    def test_issue_use_list_revoke(self):
        self.add_user("anna")
        r = self.d.cli("token", "issue", "anna", "--label", "phone", "--ttl-days", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        secret = r.stdout.strip()
        self.assertRegex(secret, r"^tb_[A-Za-z0-9_-]{40,}$")
        self.assertEqual(len(r.stdout.splitlines()), 1)  # only the secret on stdout, for scripts
        self.assertIn("cannot be shown again", r.stderr)

        status, _, me = self.d.http("GET", "/v1/me", token=secret)
        self.assertEqual((status, me["handle"], me["role"]), (200, "anna", "tourist"))

        listed = [json.loads(l) for l in self.d.cli("--json", "token", "list").stdout.splitlines()]
        self.assertEqual(len(listed), 1)
        t = listed[0]
        self.assertEqual((t["user"], t["label"], t["state"]), ("anna", "phone", "active"))
        self.assertEqual(t["prefix"], secret[:8])
        self.assertIsNotNone(t["last_used_at"])  # the call above was recorded
        self.assertNotIn(secret, json.dumps(listed))

        revoked = self.d.cli_json("token", "revoke", str(t["id"]))
        self.assertEqual(revoked["state"], "revoked")
        status, _, body = self.d.http("GET", "/v1/me", token=secret)
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        self.assertIn("revoked", body["error"]["message"])
        self.assertEqual(self.d.cli("--json", "token", "list").stdout.strip(), "")  # active only by default
        self.assertEqual(len(self.d.cli("--json", "token", "list", "--all").stdout.splitlines()), 1)
        self.assertCliError(self.d.cli("--json", "token", "revoke", "999"), 3, "not_found")
        self.assertCliError(self.d.cli("--json", "token", "issue", "ghost"), 3, "not_found")

    def test_secret_is_stored_only_as_a_hash_and_never_logged(self):
        self.add_user("anna")
        secret = self.token("anna")
        self.d.http("GET", "/v1/me", token=secret)
        self.assertEqual(self.d.stop(), 0)
        # Nowhere in the store: SQLite's is one file, every byte of it looked at (freed pages too);
        # PostgreSQL's files are the server's, so there the whole database as pg_dump writes it.
        if self.d.store_engine == "sqlite":
            with open(os.path.join(self.d.state, "tourbus.db"), "rb") as f:
                self.assertNotIn(secret.encode(), f.read())
        else:
            self.assertNotIn(secret, self.d.store_dump())
        rows = self.d.store_rows("SELECT hash, prefix FROM tokens")
        self.assertEqual(len(rows), 1)
        self.assertRegex(rows[0][0], r"^[0-9a-f]{64}$")
        self.assertNotIn(secret, self.d.log_text())
        self.assertNotIn(secret[8:], self.d.log_text())

    def test_expired_token_is_refused(self):
        self.add_user("anna")
        secret = self.token("anna", "--ttl-days", "1")
        self.assertEqual(self.d.http("GET", "/v1/me", token=secret)[0], 200)
        # Let the day pass: move the expiry into the past while the daemon is stopped.
        self.assertEqual(self.d.stop(), 0)
        self.d.store_exec("UPDATE tokens SET expires_at = expires_at - 2 * 86400000")
        self.d.start()
        status, _, body = self.d.http("GET", "/v1/me", token=secret)
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        self.assertIn("expired", body["error"]["message"])
        listed = json.loads(self.d.cli("--json", "token", "list", "--all").stdout)
        self.assertEqual(listed["state"], "expired")

    def test_roles_over_tcp(self):
        self.add_user("anna")
        self.add_user("marco", role="guide")
        self.add_user("olga", role="operator")
        tourist, guide, operator = self.token("anna"), self.token("marco"), self.token("olga")

        # A tourist's token is refused on operator operations, with nothing changed.
        for method, path, body in [("POST", "/v1/users", {"handle": "eve", "display_name": "Eve", "role": "operator"}),
                                   ("GET", "/v1/users", None), ("GET", "/v1/status", None), ("POST", "/v1/tokens", {"user": "anna"}),
                                   ("POST", "/v1/backup", None), ("POST", "/v1/reload", None), ("GET", "/metrics", None),
                                   ("PATCH", "/v1/users/anna", {"role": "operator"})]:
            with self.subTest(path=path, method=method):
                status, _, err = self.d.http(method, path, body, token=tourist)
                self.assertEqual((status, err["error"]["code"]), (403, "permission_denied"))
                self.assertEqual(self.d.http(method, path, body, token=guide)[0], 403)
        self.assertEqual(self.d.cli_json("user", "show", "anna")["role"], "tourist")
        self.assertEqual(self.d.cli_json("status")["store"]["users"], 3)

        # Anyone may read themself, not others.
        self.assertEqual(self.d.http("GET", "/v1/users/anna", token=tourist)[0], 200)
        self.assertEqual(self.d.http("GET", "/v1/users/marco", token=tourist)[0], 403)
        # An operator token has operator rights over TCP.
        status, _, body = self.d.http("POST", "/v1/users", {"handle": "eve", "display_name": "Eve", "role": "tourist"}, token=operator)
        self.assertEqual(status, 201)
        self.assertEqual(self.d.http("GET", "/v1/status", token=operator)[0], 200)


if __name__ == "__main__":
    import unittest
    unittest.main()
