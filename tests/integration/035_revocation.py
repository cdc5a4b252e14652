"""Revocation takes effect at once on open WebSocket sessions: a revoked token's sessions are
closed with 4003, a disabled user's sessions (every token, and operators acting as them on the
control socket) too, and a changed role applies to the next request on the same connection."""

import asyncio
import json
import unittest

import websockets

from harness import WAIT, DaemonTest
from wsclient import Client, Reply


class Revocation(DaemonTest):
    def setUp(self):
        super().setUp()
        self.add_user("anna")
        self.add_user("olga", role="operator")
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, WAIT * 2))

    def token_id(self, handle):
        listed = [json.loads(l) for l in self.d.cli("--json", "token", "list", "--user", handle).stdout.splitlines()]
        return listed[-1]["id"]

    async def closed(self, client):
        return await asyncio.wait_for(client.closed, WAIT)

    def test_a_revoked_token_closes_its_sessions_and_no_other(self):
        first, second = self.token("anna"), self.token("anna")
        first_id = self.token_id("anna") - 1

        async def go():
            a1 = await Client.connect(self.url, first)
            a2 = await Client.connect(self.url, second)
            self.assertEqual((await a1.call("me"))["handle"], "anna")
            r = await asyncio.to_thread(self.d.cli, "token", "revoke", str(first_id))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(await self.closed(a1), (4003, "the token was revoked"))
            # the session of the other token goes on
            self.assertEqual((await a2.call("me"))["handle"], "anna")
            await a2.close()
        self.run_async(go())
        self.d.wait_for(r"net\.ws_revoked user=anna session=\d+ code=4003")
        status, _, body = self.d.http("GET", "/v1/me", token=first)
        self.assertEqual(status, 401, body)

    def test_an_operator_whose_token_is_revoked_cannot_issue_itself_another(self):
        olga = self.token("olga")
        olga_id = self.token_id("olga")

        async def go():
            c = await Client.connect(self.url, olga)
            self.assertEqual((await c.call("me"))["role"], "operator")
            r = await asyncio.to_thread(self.d.cli, "token", "revoke", str(olga_id))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual((await self.closed(c))[0], 4003)
            with self.assertRaises((ConnectionError, websockets.exceptions.ConnectionClosed)):
                await c.call("token.issue", {"user": "olga"})
        self.run_async(go())
        listed = self.d.cli("--json", "token", "list", "--user", "olga", "--all").stdout.splitlines()
        self.assertEqual([json.loads(l)["state"] for l in listed], ["revoked"])

    def test_disabling_a_user_closes_every_session_of_theirs(self):
        phone, laptop = self.token("anna"), self.token("anna")

        async def go():
            a1 = await Client.connect(self.url, phone)
            a2 = await Client.connect(self.url, laptop)
            # an operator on the control socket acting as anna
            raw = await websockets.unix_connect(self.d.socket, "ws://localhost/v1/ws",
                                                extra_headers={"Tourbus-As": "anna"})
            as_anna = Client(raw)
            self.assertEqual((await as_anna.call("me"))["handle"], "anna")
            # the operator's own control-socket session is not anna's
            raw = await websockets.unix_connect(self.d.socket, "ws://localhost/v1/ws")
            operator = Client(raw)
            r = await asyncio.to_thread(self.d.cli, "user", "disable", "anna")
            self.assertEqual(r.returncode, 0, r.stderr)
            for c in (a1, a2, as_anna):
                self.assertEqual(await self.closed(c), (4003, "the account was disabled"))
            self.assertEqual((await operator.call("me"))["role"], "operator")
            await operator.close()
        self.run_async(go())
        status, _, body = self.d.http("GET", "/v1/me", token=phone)
        self.assertEqual(status, 401, body)

    def test_a_demoted_operator_loses_operator_rights_on_the_open_socket(self):
        self.add_user("otto", role="operator")
        olga = self.token("olga")

        async def go():
            c = await Client.connect(self.url, olga)
            made = await c.call("user.create", {"handle": "ben", "display_name": "Ben", "role": "tourist"})
            self.assertEqual(made["handle"], "ben")
            r = await asyncio.to_thread(self.d.cli, "user", "set", "olga", "--role", "tourist")
            self.assertEqual(r.returncode, 0, r.stderr)
            # the same connection, the next requests: a tourist's rights
            with self.assertRaises(Reply) as cm:
                await c.call("user.create", {"handle": "mallory", "display_name": "M", "role": "operator"})
            self.assertEqual(cm.exception.code, "permission_denied")
            with self.assertRaises(Reply) as cm:
                await c.call("token.issue", {"user": "otto"})
            self.assertEqual(cm.exception.code, "permission_denied")
            self.assertFalse(c.closed.done())  # re-authorised, not closed
            # promoted again, the rights come back without reconnecting
            r = await asyncio.to_thread(self.d.cli, "user", "set", "olga", "--role", "operator")
            self.assertEqual(r.returncode, 0, r.stderr)
            made = await c.call("user.create", {"handle": "carl", "display_name": "Carl", "role": "tourist"})
            self.assertEqual(made["handle"], "carl")
            await c.close()
        self.run_async(go())
        self.d.wait_for(r"net\.ws_role_changed user=olga session=\d+ role=tourist")
        r = self.d.cli("user", "show", "mallory")
        self.assertEqual(r.returncode, 3, r.stdout)  # never created
        self.assertEqual(self.d.cli("--json", "token", "list", "--user", "otto").stdout.strip(), "")


if __name__ == "__main__":
    unittest.main()
