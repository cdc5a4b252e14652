"""TLS on the TCP listener: HTTPS and wss:// with a certificate from the config, checked by
independent clients (Python's ssl, python3-websockets) and by `tourbus chat --server wss://`;
a renewed certificate is picked up by `tourbus reload`; bad TLS settings are refused clearly."""

import asyncio
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import TOURBUS, TOURBUSD, WAIT, Daemon, DaemonTest
from wsclient import Client


def make_certificate(directory, name, cn="localhost"):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost: (cert path, key path)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=" + cn, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def served_certificate(port, cafile):
    """The DER certificate the daemon presents to a new connection (verified against cafile)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


class Tls(DaemonTest):
    def setUp(self):
        self.certs = tempfile.mkdtemp(prefix="tourbus-tls-")
        self.addCleanup(shutil.rmtree, self.certs, True)
        self.cert, self.key = make_certificate(self.certs, "server")
        # the daemon reads the files named in the config; tests replace their contents to renew
        self.live_cert, self.live_key = os.path.join(self.certs, "live.pem"), os.path.join(self.certs, "live.key")
        shutil.copy(self.cert, self.live_cert)
        shutil.copy(self.key, self.live_key)
        self.config = '[server]\ntls_certificate = "%s"\ntls_key = "%s"\n' % (self.live_cert, self.live_key)
        super().setUp()
        self.assertIn("tls=on", self.d.wait_for("net.listening transport=tcp"))
        for h in ("alice", "bob"):
            self.add_user(h)
        conv = self.d.cli_json("conversation", "create", "direct", "alice", "bob")
        self.conv = conv["id"]

    def https(self, method, path, token, cafile=None, body=None):
        ctx = ssl.create_default_context(cafile=cafile or self.cert)
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, timeout=WAIT, context=ctx)
        headers = {"Authorization": "Bearer " + token}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        data = json.loads(res.read())
        conn.close()
        return res.status, data

    def chat(self, *args, text="", token=None):
        env = dict(os.environ, TOURBUS_TOKEN=token or self.token("alice"), TOURBUS_SOCKET="/nonexistent")
        env.pop("TOURBUS_CACERT", None)
        return subprocess.run([TOURBUS, "chat", "--server", "wss://127.0.0.1:%d" % self.d.port] + list(args),
                              input=text, capture_output=True, text=True, timeout=WAIT, env=env)

    def history(self):
        return [json.loads(l) for l in self.d.cli("conversation", "export", str(self.conv)).stdout.splitlines()]

    def test_https_and_wss_with_independent_clients(self):
        alice, bob = self.token("alice"), self.token("bob")
        status, body = self.https("POST", "/v1/conversations/%d/messages" % self.conv, alice, body={"text": "over TLS"})
        self.assertEqual((status, body["seq"]), (201, 1))
        status, body = self.https("GET", "/v1/conversations/%d/messages" % self.conv, bob)
        self.assertEqual([m["text"] for m in body["messages"]], ["over TLS"])

        async def scenario():
            ctx = ssl.create_default_context(cafile=self.cert)
            url = "wss://127.0.0.1:%d/v1/ws" % self.d.port
            a = await Client.connect(url, alice, ssl=ctx)
            b = await Client.connect(url, bob, ssl=ctx)
            sent = await a.call("message.send", {"conversation": self.conv, "text": "pushed over wss"})
            got = await b.push("message", lambda d: d["seq"] == sent["seq"])
            await a.close()
            await b.close()
            return got

        self.assertEqual(asyncio.run(scenario())["text"], "pushed over wss")

        # a plain-HTTP client on the TLS port gets no answer, and nothing is run
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=WAIT) as raw:
            raw.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice.encode() + b"\r\n\r\n")
            reply = b""
            while chunk := raw.recv(4096):
                reply += chunk
        self.assertNotIn(b"HTTP/1.1 200", reply)
        self.d.wait_for("net.tls_handshake_failed")
        # a client that does not trust the certificate is refused by its own TLS stack
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https("GET", "/v1/status", alice, cafile=make_certificate(self.certs, "other")[0])

    def test_tourbus_chat_over_wss(self):
        photo = os.path.join(self.certs, "p.png")
        with open(photo, "wb") as f:  # a 1x1 PNG
            f.write(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                  "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4f1"
                                  "0000000049454e44ae426082"))
        r = self.chat("--cacert", self.cert, str(self.conv), text="hello over wss\n/file %s\n/quit\n" % photo)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("alice: hello over wss", r.stdout)
        stored = self.history()
        self.assertEqual([(m["sender"], m["kind"]) for m in stored], [("alice", "text"), ("alice", "file")])
        self.assertEqual(stored[1]["file"]["content_type"], "image/png")
        # without --cacert the self-signed certificate is not trusted: exit 6, a hint, nothing sent
        r = self.chat(str(self.conv), text="not sent\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("--cacert", r.stderr)
        self.assertEqual(len(self.history()), 2)
        # --cacert belongs to wss:// only
        env = dict(os.environ, TOURBUS_TOKEN=self.token("alice"))
        r = subprocess.run([TOURBUS, "chat", "--server", "ws://127.0.0.1:%d" % self.d.port, "--cacert", self.cert,
                            str(self.conv)], input="", capture_output=True, text=True, timeout=WAIT, env=env)
        self.assertEqual(r.returncode, 4, r.stderr)

    def test_reload_picks_up_a_renewed_certificate(self):
        first = served_certificate(self.d.port, self.cert)
        renewed_cert, renewed_key = make_certificate(self.certs, "renewed", cn="renewed")

        async def scenario():
            ctx = ssl.create_default_context(cafile=self.cert)
            url = "wss://127.0.0.1:%d/v1/ws" % self.d.port
            a = await Client.connect(url, self.token("alice"), ssl=ctx)
            # renew in place, as certbot does, and reload
            shutil.copy(renewed_cert, self.live_cert)
            shutil.copy(renewed_key, self.live_key)
            r = await asyncio.to_thread(self.d.cli, "--json", "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            # the connection opened before the reload keeps working
            sent = await a.call("message.send", {"conversation": self.conv, "text": "still here"})
            await a.close()
            return sent

        self.assertEqual(asyncio.run(scenario())["seq"], 1)
        second = served_certificate(self.d.port, renewed_cert)
        self.assertNotEqual(first, second)
        with open(renewed_cert) as f:
            self.assertEqual(ssl.DER_cert_to_PEM_cert(second).strip(), f.read().strip())

        # a key that does not match: the reload fails and the running certificate stays
        shutil.copy(self.key, self.live_key)
        r = self.d.cli("--json", "reload")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("server.tls_key", r.stdout + r.stderr)
        self.assertEqual(served_certificate(self.d.port, renewed_cert), second)


class BadTlsConfig(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert, self.key = make_certificate(self.dir, "a")
        self.other_cert, self.other_key = make_certificate(self.dir, "b")

    def check(self, config):
        path = os.path.join(self.dir, "tourbus.toml")
        with open(path, "w") as f:
            f.write(config)
        return subprocess.run([TOURBUSD, "--config", path, "--check-config"], capture_output=True, text=True, timeout=WAIT)

    def test_each_mistake_is_named(self):
        cases = [
            ('[server]\ntls_certificate = "%s"\n' % self.cert, "set both or neither"),
            ('[server]\ntls_certificate = "%s/missing.pem"\ntls_key = "%s"\n' % (self.dir, self.key),
             "server.tls_certificate: cannot use"),
            ('[server]\ntls_certificate = "%s"\ntls_key = "%s"\n' % (self.cert, self.cert), "server.tls_key: cannot use"),
            ('[server]\ntls_certificate = "%s"\ntls_key = "%s"\n' % (self.cert, self.other_key),
             "is not the key of the certificate"),
        ]
        for config, message in cases:
            with self.subTest(message=message):
                r = self.check(config)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(message, r.stderr)
        r = self.check('[server]\ntls_certificate = "%s"\ntls_key = "%s"\n' % (self.cert, self.key))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_the_daemon_does_not_start_with_a_bad_certificate(self):
        d = Daemon(config='[server]\ntls_certificate = "%s"\ntls_key = "%s"\n' % (self.cert, self.other_key))
        self.addCleanup(d.cleanup)
        d.start(wait_ready=False)
        self.assertIn("is not the key of the certificate", d.wait_for("daemon.start_failed"))
        self.assertEqual(d.proc.wait(timeout=WAIT), 1)


if __name__ == "__main__":
    unittest.main()
