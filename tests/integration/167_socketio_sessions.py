"""Socket.IO sessions with the rights they were opened with: a revoked token's Socket.IO client is
told why and disconnected from the server's side (it does not reconnect by itself) while another
token's client goes on; on the control socket a Socket.IO client needs no token and acts as an
operator; CORS for the configured origins only; with Socket.IO off (socketio.transports = "") /socket.io/ is a path like any unknown one."""

import json
import unittest

from harness import DaemonTest

# tests/socketio/recovery.mjs in Node: one socket.io-client socket, reports as JSON lines.
from importlib import import_module

Client = import_module("166_socketio_recovery").Client


class Revocation(DaemonTest):
    def test_a_revoked_token_disconnects_its_client_only(self):
        self.add_user("anna")
        url = "http://127.0.0.1:%d" % self.d.port
        first = Client(url, self.token("anna"))
        self.addCleanup(first.close)
        first_id = json.loads(self.d.cli("--json", "token", "list", "--user", "anna").stdout.splitlines()[-1])["id"]
        second = Client(url, self.token("anna"), transport="polling")
        self.addCleanup(second.close)
        first.next("connect")
        second.next("connect")
        r = self.d.cli("token", "revoke", str(first_id))
        self.assertEqual(r.returncode, 0, r.stderr)
        error = first.next("error")
        self.assertEqual((error["code"], error["message"]), ("unauthenticated", "the token was revoked"))
        self.assertEqual(first.next("disconnect")["reason"], "io server disconnect")
        self.d.wait_for(r"net\.sio_revoked user=anna")
        # The other token's client still receives.
        self.add_user("ben")
        conv = self.d.cli_json("conversation", "create", "direct", "anna", "ben")["id"]
        self.d.cli("--as", "ben", "send", str(conv), "still here?")
        self.assertEqual(second.next("message")["text"], "still here?")
        # And the revoked one cannot come back.
        first.command("connect")
        self.assertEqual(first.next("connect_error")["message"], "this token was revoked")


class ControlSocket(DaemonTest):
    def poll(self, sid, body=None):
        path = "/socket.io/?EIO=4&transport=polling" + ("&sid=" + sid if sid else "")
        extra = ("-H", "Content-Type: text/plain;charset=UTF-8") if body is not None else ()
        return self.d.curl("POST" if body is not None else "GET", path, body, extra=extra, raw=True)

    def test_an_operator_needs_no_token(self):
        self.add_user("anna")
        status, opened = self.poll(None)
        self.assertEqual(status, 200)
        sid = json.loads(opened[1:])["sid"]
        self.assertEqual(self.poll(sid, "40"), (200, "ok"))
        status, connected = self.poll(sid)
        self.assertTrue(connected.startswith("40{"), connected)
        self.assertEqual(self.poll(sid, '421["user.list",{}]'), (200, "ok"))
        status, answer = self.poll(sid)
        self.assertTrue(answer.startswith("431["), answer)
        reply = json.loads(answer[3:])[0]
        self.assertEqual(reply["event"], "reply")
        self.assertEqual([u["handle"] for u in reply["data"]["users"]], ["anna"])


class Cors(DaemonTest):
    config = '[socketio]\ncors_origins = "https://app.example.com"\n'

    def test_listed_origins_may_long_poll_across_origins(self):
        path = "/socket.io/?EIO=4&transport=polling"
        status, headers, _ = self.d.http("GET", path, headers={"Origin": "https://app.example.com"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example.com")
        self.assertEqual(headers.get("Access-Control-Allow-Credentials"), "true")
        status, headers, _ = self.d.http("OPTIONS", path, headers={"Origin": "https://app.example.com",
                                                                   "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 204)
        self.assertIn("POST", headers.get("Access-Control-Allow-Methods", ""))
        # Another origin gets no CORS header: its page cannot read the answer.
        status, headers, _ = self.d.http("GET", path, headers={"Origin": "https://evil.example.net"})
        self.assertNotIn("Access-Control-Allow-Origin", headers)


class Off(DaemonTest):
    config = '[socketio]\ntransports = ""\n'

    def test_socketio_can_be_turned_off(self):
        # As any path the API does not have: 401 before a token, 404 with one.
        self.assertEqual(self.d.http("GET", "/socket.io/?EIO=4&transport=polling")[0], 401)
        self.add_user("anna")
        self.assertEqual(self.d.http("GET", "/socket.io/?EIO=4&transport=polling", token=self.token("anna"))[0], 404)


if __name__ == "__main__":
    unittest.main()
