"""User life cycle through the CLI and the API, and every kind of bad input the issue names."""

import json

from harness import DaemonTest


class Users(DaemonTest):
    config = "[server]\nmax_body_bytes = 2048\n"

    def test_life_cycle(self):
        u = self.add_user("Anna", name="Anna Rossi", email="anna@example.com", phone="+39 333 123 4567",
                          language="it", tz="Europe/Rome", quiet_hours="22:00-07:00")
        self.assertEqual(u["handle"], "anna")
        self.assertEqual(u["phone"], "+393331234567")
        self.assertEqual(u["quiet_hours"], "22:00-07:00")
        self.assertFalse(u["marketing_consent"])
        self.assertIsNone(u["marketing_consent_at"])
        self.add_user("marco", role="guide", name="Marco")

        # list: a table by default, JSON lines with --json, filters
        r = self.d.cli("user", "list")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.splitlines()[0].split()[:3], ["HANDLE", "NAME", "ROLE"])
        lines = self.d.cli("--json", "user", "list").stdout.splitlines()
        self.assertEqual([json.loads(l)["handle"] for l in lines], ["anna", "marco"])
        guides = self.d.cli("--json", "user", "list", "--role", "guide").stdout.splitlines()
        self.assertEqual([json.loads(l)["handle"] for l in guides], ["marco"])

        # set: consent is timestamped, an empty value clears
        u = self.d.cli_json("user", "set", "anna", "--marketing-consent", "yes", "--email", "")
        self.assertTrue(u["marketing_consent"])
        self.assertRegex(u["marketing_consent_at"], r"^\d{4}-\d\d-\d\dT")
        self.assertIsNone(u["email"])
        self.assertEqual(self.d.cli_json("user", "show", "ANNA")["email"], None)  # handles are case-insensitive
        self.assertCliError(self.d.cli("--json", "user", "set", "anna", "--name", ""), 4, "invalid_argument")

        # disable blocks the user's tokens; enable restores them
        token = self.token("anna")
        self.assertEqual(self.d.http("GET", "/v1/me", token=token)[0], 200)
        self.assertTrue(self.d.cli_json("user", "disable", "anna")["disabled"])
        status, _, body = self.d.http("GET", "/v1/me", token=token)
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        self.assertIn("disabled", body["error"]["message"])
        self.assertEqual(self.d.cli_json("user", "list", "--disabled")["handle"], "anna")
        self.d.cli_json("user", "enable", "anna")
        self.assertEqual(self.d.http("GET", "/v1/me", token=token)[0], 200)

    def test_not_found(self):
        self.assertCliError(self.d.cli("--json", "user", "show", "ghost"), 3, "not_found")
        self.assertCliError(self.d.cli("--json", "user", "set", "ghost", "--name", "G"), 3, "not_found")

    def test_bad_input_gets_a_stable_code_and_changes_nothing(self):
        self.add_user("anna")
        cases = [
            (["user", "add", "bob", "--tz", "Mars/Olympus_Mons"], "invalid_argument", "time_zone"),
            (["user", "add", "bob", "--phone", "+1 555"], "invalid_argument", "phone"),
            (["user", "add", "bob", "--phone", "+999 1234 5678"], "invalid_argument", "phone"),
            (["user", "add", "bob", "--phone", "0039 333 1234567"], "invalid_argument", "phone"),
            (["user", "add", "bob", "--email", "bob-at-example"], "invalid_argument", "email"),
            (["user", "add", "bob", "--language", "klingon"], "invalid_argument", "language"),
            (["user", "add", "bob", "--quiet-hours", "late"], "invalid_argument", "quiet_hours"),
            (["user", "add", "b"], "invalid_argument", "handle"),
            (["user", "add", "../etc"], "invalid_argument", "handle"),
            (["user", "add", "ANNA"], "already_exists", "handle"),
            (["user", "set", "anna", "--tz", "Europe/Nowhere"], "invalid_argument", "time_zone"),
        ]
        for args, code, field in cases:
            with self.subTest(args=args):
                r = self.d.cli("--json", *args)
                self.assertCliError(r, 4, code)
                self.assertEqual(json.loads(r.stdout)["error"]["field"], field)
        self.assertEqual(self.d.cli_json("status")["store"]["users"], 1)
        self.assertEqual(self.d.cli_json("user", "show", "anna")["time_zone"], "UTC")

    def test_bad_requests_over_the_socket(self):
        good = {"handle": "anna", "display_name": "Anna", "role": "tourist"}
        status, body = self.d.curl("POST", "/v1/users", dict(good, nickname="x"))
        self.assertEqual((status, body["error"]["code"], body["error"]["field"]), (400, "unknown_field", "nickname"))
        status, body = self.d.curl("POST", "/v1/users", {"handle": "anna", "role": "tourist"})
        self.assertEqual((status, body["error"]["code"], body["error"]["field"]), (400, "invalid_argument", "display_name"))
        status, body = self.d.curl("POST", "/v1/users", dict(good, role="admin"))
        self.assertEqual((status, body["error"]["code"]), (400, "invalid_argument"))
        status, body = self.d.curl("POST", "/v1/users", '{"handle": "anna",')
        self.assertEqual((status, body["error"]["code"]), (400, "invalid_json"))
        status, body = self.d.curl("POST", "/v1/users", dict(good, display_name="x" * 4000))
        self.assertEqual((status, body["error"]["code"]), (413, "payload_too_large"))
        status, body = self.d.curl("POST", "/v1/users", "handle=anna", extra=["-H", "Content-Type: text/plain"])
        self.assertEqual((status, body["error"]["code"]), (415, "unsupported_media_type"))
        status, body = self.d.curl("POST", "/v1/users", dict(good, marketing_consent="yes"))
        self.assertEqual((status, body["error"]["field"]), (400, "marketing_consent"))
        # After all that, the daemon is fine and nothing was stored.
        status, body = self.d.curl("GET", "/v1/users")
        self.assertEqual((status, body["users"]), (200, []))
        status, body = self.d.curl("POST", "/v1/users", good)
        self.assertEqual(status, 201)
        self.assertEqual(body["handle"], "anna")


if __name__ == "__main__":
    import unittest
    unittest.main()
