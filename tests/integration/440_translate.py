"""Multilingual chat with the real daemon, real WebSocket clients and the CLI: the offline engine
(Debian's Apertium APy, started here) translating a tour chat between an English guide, a
Spanish tourist and an Italian one (English to Italian by a pivot through Spanish), the original
delivered first and kept, history with translations, glossary terms and "do not translate", the
switches, edits, an unsupported pair said once; LibreTranslate and DeepL stand-ins (local HTTP
servers that check the request and the key), one that hangs without holding anything back, a
quota error retried with backoff, `kill -9` with a translation pending; and an alert that reaches
an Italian tourist with a machine translation below the English original."""

import asyncio
import datetime
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

import peers
from apertium import Apy
from harness import TOURBUS, WAIT, DaemonTest, wait_until
from wsclient import Client, Reply

UTC = datetime.timezone.utc


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Chat(DaemonTest):
    """A daemon with users and WebSocket helpers; subclasses give the engines' config."""

    def engines_config(self):
        raise NotImplementedError

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tourbus-translate-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.config = self.engines_config() + """
[websocket]
events_per_second = 10000
event_burst = 10000
"""
        super().setUp()
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port
        self.tok = {}

    def person(self, handle, language, role="tourist"):
        self.add_user(handle, role=role, language=language)
        self.tok[handle] = self.token(handle)

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 8 * WAIT))

    async def connect(self, handle):
        return await Client.connect(self.url, self.tok[handle])

    @staticmethod
    def order(client, *names):
        """The events of `names` in the order they arrived at the client (taken or not)."""
        return [f["event"] for f in client.log if f["event"] in names]


def record_all(client):
    """Keeps every push the client gets, in order, beside the queue the tests take from."""
    client.log = []

    class Tee(list):
        def append(self, frame):
            client.log.append(frame)
            super().append(frame)

    client.pushes = Tee(client.pushes)
    return client


class Apertium(Chat):
    def engines_config(self):
        self.apy = Apy(tempfile.mkdtemp(prefix="tourbus-apy-"))
        self.addCleanup(self.apy.close)
        return """
[translate]
providers = "apertium"
apertium_url = "%s"
pivots = "es"
# The alert waits for its machine translations as long as they take here (a loaded sanitizer run
# with APy starting two pairs can take over the default second); the default bounds the wait.
emergency_wait_ms = 20000
""" % self.apy.url

    def setUp(self):
        super().setUp()
        self.person("gus", "en-GB", role="guide")
        self.person("ana", "es-ES")
        self.person("luca", "it")
        self.person("dora", "de")
        self.add_user("olga", role="operator")
        for term in ("Plaza Mayor", "Bar Pepe"):
            r = self.d.cli("glossary", "add", term, "--note", "a place")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_tour_chat_in_three_languages(self):
        self.assertIn(("eng", "spa"), self.apy.pairs)
        self.assertIn(("spa", "ita"), self.apy.pairs)
        self.assertNotIn(("eng", "ita"), self.apy.pairs)  # Italian goes through Spanish

        async def go():
            gus, ana, luca, dora = [record_all(await self.connect(h)) for h in ["gus", "ana", "luca", "dora"]]
            conv = (await gus.call("conversation.create", {"kind": "group", "title": "Madrid at night",
                                                           "members": ["ana", "luca", "dora"]}))["id"]
            text = "The bus leaves from Plaza Mayor at 9:30 tomorrow, see https://tours.example/map?d=2 @ana 🚌"
            sent = await gus.call("message.send", {"conversation": conv, "text": text, "lang": "en", "client_id": "m1"})
            self.assertEqual((sent["lang"], sent["lang_source"], sent["translate"]), ("en", "client", True))

            # Spanish: the original first, then its translation with everything protected intact.
            original = await ana.push("message", lambda d: d["seq"] == sent["seq"])
            self.assertEqual(original["text"], text)
            es = await ana.push("message.translated", lambda d: d["seq"] == sent["seq"])
            self.assertEqual(self.order(ana, "message", "message.translated")[:2], ["message", "message.translated"])
            self.assertEqual((es["conversation"], es["from"], es["lang"], es["provider"], es["pivot"], es["machine"]),
                             (conv, "en", "es", "apertium", None, True))
            for kept in ("Plaza Mayor", "9:30", "https://tours.example/map?d=2", "@ana", "🚌"):
                self.assertIn(kept, es["text"])
            self.assertIn("autobús", es["text"].lower())
            self.assertNotEqual(es["text"], text)
            # Italian: English to Spanish to Italian, marked as pivoted.
            it = await luca.push("message.translated", lambda d: d["seq"] == sent["seq"])
            self.assertEqual((it["lang"], it["pivot"], it["provider"]), ("it", "es", "apertium"))
            self.assertIn("Plaza Mayor", it["text"])
            self.assertIn("9:30", it["text"])
            # German: nothing translates English to German here; said once, the original stands.
            na = await dora.push("translation.unavailable", lambda d: d["conversation"] == conv)
            self.assertEqual((na["from"], na["lang"]), ("en", "de"))
            print("\n  en>es: %s\n  en>es>it: %s" % (es["text"], it["text"]))

            # The Spanish tourist writes without declaring her language: detected, translated for the guide.
            asks = await ana.call("message.send", {"conversation": conv, "text": "¿Dónde está el autobús? Estamos en el Bar Pepe"})
            self.assertEqual((asks["lang"], asks["lang_source"]), ("es", "detected"))
            en = await gus.push("message.translated", lambda d: d["seq"] == asks["seq"])
            self.assertEqual((en["lang"], en["from"], en["pivot"]), ("en", "es", None))
            self.assertIn("Bar Pepe", en["text"])
            self.assertIn("bus", en["text"].lower())
            it2 = await luca.push("message.translated", lambda d: d["seq"] == asks["seq"])
            self.assertEqual((it2["lang"], it2["pivot"]), ("it", None))  # Spanish to Italian directly
            es_de = await dora.push("translation.unavailable", lambda d: d["conversation"] == conv)
            self.assertEqual((es_de["from"], es_de["lang"]), ("es", "de"))

            # "Do not translate": delivered as written, no annotation. The next message's
            # translation proves the runner went past it (it works in message order).
            fixed = await gus.call("message.send", {"conversation": conv, "text": "EMERGENCY EXIT: follow the green signs",
                                                    "lang": "en", "translate": False})
            self.assertFalse(fixed["translate"])
            after = await gus.call("message.send", {"conversation": conv, "text": "Good night", "lang": "en"})
            await ana.push("message.translated", lambda d: d["seq"] == after["seq"])
            self.assertFalse([f for f in ana.log if f["event"] == "message.translated" and f["data"]["seq"] == fixed["seq"]])
            await dora.quiet("translation.unavailable")  # said once per conversation, not per message

            # Luca turns translation off here; Ana keeps hers.
            off = await luca.call("translation.set", {"conversation": conv, "enabled": False})
            self.assertEqual((off["enabled"], off["default"]), (False, True))
            quiet = await gus.call("message.send", {"conversation": conv, "text": "We meet at the hotel", "lang": "en"})
            await ana.push("message.translated", lambda d: d["seq"] == quiet["seq"])  # same round as luca's would be
            self.assertFalse([f for f in luca.log if f["event"] == "message.translated" and f["data"]["seq"] == quiet["seq"]])
            # Only the owner, a guide in it or an operator sets the conversation's default.
            with self.assertRaises(Reply) as cm:
                await ana.call("conversation.translation", {"id": conv, "enabled": False})
            self.assertEqual(cm.exception.code, "permission_denied")

            # An edit is translated again.
            await gus.call("message.edit", {"conversation": conv, "seq": after["seq"], "text": "Good morning, everybody"})
            await ana.push("message.updated", lambda d: d["seq"] == after["seq"])
            again = await ana.push("message.translated", lambda d: d["seq"] == after["seq"])
            self.assertIn("buenos", again["text"].lower())

            # History (and so any sync after a reconnect) returns each message with the reader's translation.
            page = await ana.call("message.history", {"conversation": conv})
            by_seq = {m["seq"]: m for m in page["messages"]}
            first = by_seq[sent["seq"]]
            self.assertEqual(first["text"], text)  # the original, always
            self.assertEqual(list(first["translations"]), ["es"])
            self.assertEqual(first["translations"]["es"]["text"], es["text"])
            self.assertNotIn("translations", by_seq[fixed["seq"]])
            self.assertNotIn("translations", by_seq[asks["seq"]])  # her own message
            synced = await gus.call("message.history", {"conversation": conv, "after": sent["seq"]})
            mine = {m["seq"]: m for m in synced["messages"]}
            self.assertEqual(mine[asks["seq"]]["translations"]["en"]["text"], en["text"])
            for c in (gus, ana, luca, dora):
                await c.close()
            return conv, sent["seq"]

        conv, seq = self.run_async(go())

        # The control socket sees every language.
        page = self.d.curl("GET", "/v1/conversations/%d/messages" % conv)[1]
        first = next(m for m in page["messages"] if m["seq"] == seq)
        self.assertEqual(sorted(first["translations"]), ["es", "it"])
        self.assertEqual(first["translations"]["it"]["pivot"], "es")

        # The CLI tries the engines; the glossary lists what it protects.
        r = self.d.cli("translate", "Good morning, the museum opens at 10:00", "--from", "en", "--to", "es")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10:00", r.stdout)
        self.assertIn("museo", r.stdout.lower())
        piv = self.d.cli_json("translate", "The museum is closed", "--from", "en", "--to", "it")
        self.assertEqual((piv["provider"], piv["pivot"]), ("apertium", "es"))
        r = self.d.cli("translate", "Hello", "--from", "en", "--to", "de")
        self.assertCliError(r, 3, "not_found")
        terms = [json.loads(l)["term"] for l in self.d.cli("--json", "glossary", "list").stdout.splitlines()]
        self.assertEqual(sorted(terms), ["Bar Pepe", "Plaza Mayor"])
        r = self.d.cli("glossary", "add", "plaza mayor")
        self.assertNotEqual(r.returncode, 0)

        # status and /metrics show the engine and the figures.
        status = self.d.cli_json("status")["translation"]
        engine = status["engines"][0]
        self.assertEqual((engine["name"], engine["reachable"], engine["backing_off"]), ("apertium", True, False))
        self.assertIn("en>es", engine["pairs"])
        self.assertGreaterEqual(status["translated"], 8)
        self.assertEqual(status["waiting"], 0)
        metrics = self.d.curl("GET", "/metrics", raw=True)[1]
        self.assertIn('tourbus_translation_engine_up{engine="apertium"} 1', metrics)
        self.assertRegex(metrics, r'tourbus_translations_total\{outcome="translated"\} \d+')

    def test_the_terminal_chat_shows_translations_under_the_original_or_instead(self):
        conv = self.d.cli_json("--as", "gus", "conversation", "create", "group", "ana", "--title", "Retiro")["id"]
        env = dict(os.environ, TOURBUS_SOCKET=self.d.socket)

        def chat(*args):
            return subprocess.Popen([TOURBUS, "--as", "ana", "chat", *args, str(conv)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

        def read_until(proc, needle):
            seen = []
            for line in proc.stdout:  # the chat prints each line as it comes; the test's timeout bounds it
                seen.append(line)
                if needle in line:
                    return seen
            raise AssertionError("the chat ended without %r: %s %s" % (needle, "".join(seen), proc.stderr.read()))

        below = chat()
        self.addCleanup(below.kill)
        read_until(below, "Retiro")  # the header: connected
        seq = self.d.cli_json("--as", "gus", "send", str(conv), "The museum opens at 10:00", "--lang", "en")["seq"]
        lines = read_until(below, "(machine)")
        original = next(i for i, l in enumerate(lines) if "gus: The museum opens at 10:00" in l)
        self.assertGreater(len(lines) - 1, original)  # the translation comes under the original
        self.assertIn("en→es (machine)", lines[-1])
        self.assertIn("10:00", lines[-1])
        below.stdin.write("/quit\n")
        below.stdin.flush()
        _, err = below.communicate(timeout=WAIT)
        self.assertEqual(below.returncode, 0, err)

        # --translations replace: the translation stands for the original, and /original shows it.
        instead = chat("--translations", "replace")
        self.addCleanup(instead.kill)
        lines = read_until(instead, "(machine")  # the history, already translated
        self.assertNotIn("The museum opens at 10:00", "".join(lines))
        instead.stdin.write("/original %d\n/quit\n" % seq)
        instead.stdin.flush()
        out, _ = instead.communicate(timeout=WAIT)
        self.assertIn("The museum opens at 10:00", out)

    def test_an_alert_reaches_each_person_in_their_language_with_the_original(self):
        now = datetime.datetime.now(UTC)
        tour = self.d.cli_json("tour", "add", "-t", "Retiro park", "--start", rfc3339(now - datetime.timedelta(minutes=10)),
                               "--end", rfc3339(now + datetime.timedelta(hours=2)), "--tz", "Europe/Madrid", "-g", "gus",
                               "-p", "ana", "-p", "luca")["id"]

        async def go():
            ana, luca = [await self.connect(h) for h in ["ana", "luca"]]
            sent = await self.connect("gus")
            alert = await sent.call("alert.send", {"tours": [str(tour)], "event": "Storm", "headline": "Storm warning",
                                                   "description": "A strong storm reaches the park at 17:00.",
                                                   "instruction": "Go to the main gate now.", "language": "en"})
            for_luca = await luca.push("alert", lambda d: d["id"] == alert["id"])
            self.assertEqual(for_luca["language"], "it")
            self.assertTrue(for_luca["headline"].startswith("Storm warning / "), for_luca["headline"])
            self.assertIn("Traduzione automatica", for_luca["headline"])
            self.assertTrue(for_luca["instruction"].startswith("Go to the main gate now.\n\n[Traduzione automatica] "))
            self.assertIn("17:00", for_luca["description"].split("[Traduzione automatica]")[1])
            for_ana = await ana.push("alert", lambda d: d["id"] == alert["id"])
            self.assertEqual(for_ana["language"], "es")
            self.assertIn("[Traducción automática]", for_ana["instruction"])
            for c in (ana, luca, sent):
                await c.close()

        self.run_async(go())
        self.d.wait_for(r"safety\.alert_translated alert=\d+ languages=(es,it|it,es)")


class LocalHttp(threading.Thread):
    """A server that accepts connections, reads the request and never answers: a hanging engine."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.received = threading.Event()
        self.conns = []
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            try:
                if conn.recv(65536):
                    self.received.set()
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class StandIns(Chat):
    """LibreTranslate and DeepL stand-ins that check what the real APIs check."""

    LT_KEY, DL_KEY = "lt-secret-key", "dl-secret-key:fx"

    def engines_config(self):
        self.lt = peers.HttpPeer()
        self.addCleanup(self.lt.close)
        self.lt.route("/languages", lambda req: (200, {"Content-Type": "application/json"}, json.dumps(
            [{"code": "en", "name": "English", "targets": ["fr", "nl", "de"]}]).encode()))
        self.lt.route("/translate", self.libretranslate)
        self.dl = peers.HttpPeer()
        self.addCleanup(self.dl.close)
        self.dl.route("/v2/translate", self.deepl)
        self.hang = LocalHttp()
        self.addCleanup(self.hang.close)
        return self.routes_config()

    def routes_config(self):
        return """
[translate]
providers = ""
routes = "en>fr=libretranslate, en>de=deepl, en>nl=deepl|libretranslate"
libretranslate_url = "%s"
libretranslate_key = "%s"
deepl_url = "%s"
deepl_key = "%s"
timeout_ms = 1500
retry_base_ms = 300
""" % (self.lt.url, self.LT_KEY, self.dl.url, self.DL_KEY)

    def libretranslate(self, req):
        body = req.json() if req.headers.get("content-type", "").startswith("application/json") else None
        if req.method != "POST" or not isinstance(body, dict):
            req.error = "not a JSON POST"
            return (400, {}, b'{"error": "Invalid request"}')
        if body.get("api_key") != self.LT_KEY:
            req.error = "api_key %r" % body.get("api_key")
            return (403, {}, b'{"error": "Invalid API key"}')
        if body.get("format") != "text" or not body.get("q") or body.get("source") != "en" or not body.get("target"):
            req.error = "fields %r" % body
            return (400, {}, b'{"error": "Invalid request"}')
        return (200, {"Content-Type": "application/json"},
                json.dumps({"translatedText": "[lt %s] %s" % (body["target"], body["q"])}).encode())

    def deepl(self, req):
        if req.headers.get("authorization") != "DeepL-Auth-Key " + self.DL_KEY:
            req.error = "authorization %r" % req.headers.get("authorization")
            return (403, {}, b'{"message": "Forbidden"}')
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), list) or body.get("source_lang") != "EN":
            req.error = "body %r" % body
            return (400, {}, b'{"message": "Bad request"}')
        return (200, {"Content-Type": "application/json"}, json.dumps({"translations": [
            {"detected_source_language": "EN", "text": "[dl %s] %s" % (body["target_lang"], t)} for t in body["text"]]}).encode())

    def setUp(self):
        super().setUp()
        self.person("gus", "en", role="guide")
        self.person("fred", "fr")
        self.person("dirk", "de")
        r = self.d.cli("glossary", "add", "Plaza Mayor")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_libretranslate_and_deepl_by_route_with_their_keys(self):
        async def go():
            gus, fred, dirk = [await self.connect(h) for h in ["gus", "fred", "dirk"]]
            conv = (await gus.call("conversation.create", {"kind": "group", "title": "Paris", "members": ["fred", "dirk"]}))["id"]
            m = await gus.call("message.send", {"conversation": conv, "text": "Meet at Plaza Mayor at 9", "lang": "en"})
            fr = await fred.push("message.translated", lambda d: d["seq"] == m["seq"])
            self.assertEqual((fr["provider"], fr["text"]), ("libretranslate", "[lt fr] Meet at Plaza Mayor at 9"))
            de = await dirk.push("message.translated", lambda d: d["seq"] == m["seq"])
            self.assertEqual((de["provider"], de["text"]), ("deepl", "[dl DE] Meet at Plaza Mayor at 9"))
            for c in (gus, fred, dirk):
                await c.close()

        self.run_async(go())
        self.lt.assert_no_errors()
        self.dl.assert_no_errors()
        # The protected term and the number never left the machine: placeholders went instead.
        sent = [r.json()["q"] for r in self.lt.requests if r.path == "/translate"]
        self.assertEqual(sent, ["Meet at [[1]] at [[2]]"])
        self.assertEqual([r.json()["text"] for r in self.dl.requests], [["Meet at [[1]] at [[2]]"]])
        self.assertEqual([r.json()["target_lang"] for r in self.dl.requests], ["DE"])
        log = self.d.log_text()
        self.assertNotIn(self.DL_KEY, log)
        self.assertNotIn(self.LT_KEY, log)

    def test_a_hanging_engine_holds_nothing_back_and_a_quota_error_is_retried(self):
        # DeepL hangs: English to Dutch falls back to LibreTranslate; the original is not held.
        self.d.stop()
        self.d.write_config(self.routes_config().replace(self.dl.url, self.hang.url) + """
[websocket]
events_per_second = 10000
""")
        self.d.start()
        self.url = "ws://127.0.0.1:%d/v1/ws" % self.d.port
        self.person("nina", "nl")

        async def go():
            gus, nina, dirk = [await self.connect(h) for h in ["gus", "nina", "dirk"]]
            conv = (await gus.call("conversation.create", {"kind": "group", "title": "Amsterdam", "members": ["nina", "dirk"]}))["id"]
            m = await gus.call("message.send", {"conversation": conv, "text": "Welcome aboard", "lang": "en"})
            await nina.push("message", lambda d: d["seq"] == m["seq"])
            await dirk.push("message", lambda d: d["seq"] == m["seq"])
            # Both originals are in while DeepL still holds the request open.
            self.assertTrue(self.hang.received.wait(WAIT))
            nl = await nina.push("message.translated", lambda d: d["seq"] == m["seq"])
            self.assertEqual(nl["provider"], "libretranslate")
            status = self.d.cli_json("status")["translation"]
            deepl = next(e for e in status["engines"] if e["name"] == "deepl")
            self.assertEqual((deepl["last_error"], deepl["reachable"]), ("timeout", False))
            # German has no fallback: it waits for another attempt.
            self.assertGreaterEqual(status["waiting"], 1)
            for c in (gus, nina, dirk):
                await c.close()
            return conv, m["seq"]

        conv, seq = self.run_async(go())
        self.assertIn('tourbus_translation_engine_up{engine="deepl"} 0', self.d.curl("GET", "/metrics", raw=True)[1])
        self.d.wait_for(r"translate\.failed message=\d+ to=de attempt=1 of=6 error=\"deepl: timeout\"")

        # kill -9 with that translation pending; DeepL answers again but over quota first: the
        # restart finds the job, gets 456, backs off, and then the German translation arrives.
        self.d.kill9()
        self.dl.respond("/v2/translate", 456, body=b'{"message": "Quota Exceeded"}')
        self.d.write_config(self.routes_config())
        self.d.start()
        self.d.wait_for(r'translate\.failed message=\d+ to=de attempt=\d+ of=6 error="deepl: HTTP 456: DeepL quota exceeded"', start=0)

        def german():
            page = self.d.curl("GET", "/v1/conversations/%d/messages" % conv)[1]
            m = next(x for x in page["messages"] if x["seq"] == seq)
            return m.get("translations", {}).get("de")

        de = wait_until(german, "the German translation after the restart and the quota error")
        self.assertEqual((de["provider"], de["text"]), ("deepl", "[dl DE] Welcome aboard"))
        self.assertEqual(self.d.cli_json("status")["translation"]["waiting"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
