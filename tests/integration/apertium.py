"""Apertium APy for the tests: Debian's apertium-apy with the language pairs scripts/setup.sh
installs, started on a free loopback port and stopped afterwards.

APy has no option to choose its address and binds every interface; here it is started through
its own main() with Tornado's bind pinned to 127.0.0.1, so a test never listens beyond loopback.
(In production the systemd unit confines it with IPAddressAllow=localhost.)"""

import json
import os
import socket
import subprocess
import urllib.request

from harness import WAIT, wait_until

MODES = "/usr/share/apertium/modes"

_LOOPBACK_MAIN = """
import sys
import tornado.tcpserver
_bind = tornado.tcpserver.TCPServer.bind
def bind(self, port, address=None, *args, **kwargs):
    return _bind(self, port, "127.0.0.1", *args, **kwargs)
tornado.tcpserver.TCPServer.bind = bind
from apertium_apy.apy import main
sys.argv[0] = "apertium-apy"
main()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Apy:
    """A running APy: .url, .pairs (a set of (from, to) three-letter codes), close()."""

    def __init__(self, log_dir):
        if not os.path.isdir(MODES):
            raise RuntimeError("no Apertium modes in %s: run scripts/setup.sh (apertium-apy and the pairs)" % MODES)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(log_dir, "apy.log"), "wb")
        env = dict(os.environ, LC_ALL="C.UTF-8")
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", _LOOPBACK_MAIN, "-p", str(self.port), MODES],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pairs = wait_until(self._pairs, "apertium-apy answering /list?q=pairs on %s" % self.url, timeout=WAIT,
                                describe=self._tail)

    def _pairs(self):
        if self.proc.poll() is not None:
            raise AssertionError("apertium-apy exited with %s%s" % (self.proc.returncode, self._tail()))
        try:
            with urllib.request.urlopen(self.url + "/list?q=pairs", timeout=2) as r:
                data = json.load(r)
        except OSError:
            return None
        return {(p["sourceLanguage"], p["targetLanguage"]) for p in data["responseData"]}

    def _tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return "\n--- apy.log ---\n" + f.read()[-2000:].decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
