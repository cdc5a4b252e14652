"""Tours: life cycle, time zones, validation, who may see what."""

import json

from harness import DaemonTest


class Tours(DaemonTest):
    def setUp(self):
        super().setUp()
        self.add_user("anna")
        self.add_user("bob")
        self.add_user("marco", role="guide")
        self.add_user("giulia", role="guide")

    def add_tour(self, *extra):
        return self.d.cli_json("tour", "add", "--title", "Colosseum at dawn", "--start", "2026-12-01T09:00",
                               "--end", "2026-12-01T12:00", "--tz", "Europe/Rome", *extra)

    def test_life_cycle(self):
        t = self.add_tour("--guide", "marco", "--meeting", "Arch of Constantine", "--lat", "41.8898", "--lon", "12.4906",
                          "-p", "anna")
        self.assertEqual(t["starts_at"], "2026-12-01T08:00:00Z")  # 09:00 in Rome in winter
        self.assertEqual(t["starts_local"], "2026-12-01T09:00:00+01:00")
        self.assertEqual(t["guide"], "marco")
        self.assertEqual(t["participants"], ["anna"])
        self.assertEqual(t["status"], "scheduled")
        self.assertEqual(t["meeting_point"], {"label": "Arch of Constantine", "lat": 41.8898, "lon": 12.4906})
        tid = str(t["id"])
        self.assertIn('"lat":41.8898,"lon":12.4906', self.d.cli("--json", "tour", "show", tid).stdout)

        self.assertEqual(self.d.cli_json("tour", "join", tid, "bob")["participants"], ["anna", "bob"])
        self.assertEqual(self.d.cli_json("tour", "leave", tid, "anna")["participants"], ["bob"])
        self.assertCliError(self.d.cli("--json", "tour", "leave", tid, "anna"), 3, "not_found")
        t = self.d.cli_json("tour", "set", tid, "--guide", "giulia", "--start", "2026-12-01T08:30:00+01:00")
        self.assertEqual((t["guide"], t["starts_at"]), ("giulia", "2026-12-01T07:30:00Z"))
        self.assertEqual(self.d.cli_json("tour", "set", tid, "--status", "running")["status"], "running")
        self.assertCliError(self.d.cli("--json", "tour", "set", tid, "--status", "scheduled"), 4, "conflict")
        self.assertEqual(self.d.cli_json("tour", "set", tid, "--status", "finished")["status"], "finished")
        self.assertCliError(self.d.cli("--json", "tour", "cancel", tid), 4, "conflict")
        self.assertCliError(self.d.cli("--json", "tour", "join", tid, "anna"), 4, "conflict")

        t2 = self.add_tour()
        c = self.d.cli_json("tour", "cancel", str(t2["id"]), "--reason", "storm warning")
        self.assertEqual((c["status"], c["cancel_reason"]), ("cancelled", "storm warning"))

        listed = [json.loads(l) for l in self.d.cli("--json", "tour", "list").stdout.splitlines()]
        self.assertEqual(len(listed), 2)
        cancelled = [json.loads(l) for l in self.d.cli("--json", "tour", "list", "--status", "cancelled").stdout.splitlines()]
        self.assertEqual([x["id"] for x in cancelled], [t2["id"]])
        human = self.d.cli("tour", "show", tid).stdout
        self.assertIn("Colosseum at dawn", human)
        self.assertIn("giulia", human)

    def test_bad_input(self):
        cases = [
            (["--end", "2026-12-01T08:00"], "invalid_argument", "ends_at"),  # end before start
            (["--guide", "anna"], "invalid_argument", "guide"),              # a tourist as guide
            (["--guide", "nobody"], "not_found", "guide"),
            (["-p", "marco"], "invalid_argument", "participants"),            # a guide as participant
            (["--start", "next tuesday"], "invalid_argument", "starts_at"),
            (["--start", "2026-03-29T02:30", "--end", "2026-03-29T05:00"], "invalid_argument", "starts_at"),  # DST gap
        ]
        for extra, code, field in cases:
            with self.subTest(extra=extra):
                args = {"--title": "T", "--start": "2026-12-01T09:00", "--end": "2026-12-01T12:00", "--tz": "Europe/Rome"}
                for i in range(0, len(extra), 2):
                    args[extra[i]] = extra[i + 1]
                flat = [x for kv in args.items() for x in kv]
                r = self.d.cli("--json", "tour", "add", *flat)
                self.assertCliError(r, 3 if code == "not_found" else 4, code)
                self.assertEqual(json.loads(r.stdout)["error"]["field"], field)
        r = self.d.cli("--json", "tour", "add", "--title", "T", "--start", "2026-12-01T09:00", "--end", "2026-12-01T12:00",
                       "--tz", "Atlantis/Capital")
        self.assertCliError(r, 4, "invalid_argument")
        status, body = self.d.curl("POST", "/v1/tours", {"title": "T", "starts_at": "2026-12-01T09:00", "ends_at": "2026-12-01T12:00",
                                                         "time_zone": "UTC", "meeting_lat": 91.0, "meeting_lon": 0.0})
        self.assertEqual((status, body["error"]["field"]), (400, "meeting_lat"))
        self.assertCliError(self.d.cli("--json", "tour", "show", "77"), 3, "not_found")
        self.assertEqual(self.d.cli_json("status")["store"]["tours"], 0)

    def test_guides_and_tourists_see_their_own_tours(self):
        mine = self.add_tour("--guide", "marco", "-p", "anna")
        other = self.add_tour("--guide", "giulia", "-p", "bob")
        anna, marco = self.token("anna"), self.token("marco")
        status, _, body = self.d.http("GET", "/v1/tours", token=anna)
        self.assertEqual([t["id"] for t in body["tours"]], [mine["id"]])
        status, _, body = self.d.http("GET", "/v1/tours", token=marco)
        self.assertEqual([t["id"] for t in body["tours"]], [mine["id"]])
        self.assertEqual(self.d.http("GET", "/v1/tours/%d" % mine["id"], token=anna)[0], 200)
        status, _, body = self.d.http("GET", "/v1/tours/%d" % other["id"], token=anna)
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        status, _, body = self.d.http("POST", "/v1/tours/%d/cancel" % mine["id"], {}, token=marco)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))


if __name__ == "__main__":
    import unittest
    unittest.main()
