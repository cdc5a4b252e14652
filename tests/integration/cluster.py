"""What the scenarios of several nodes share (docs/scaling.md, "Several nodes" and "Pushes across
nodes"): a PostgreSQL server for the nodes' one store, free loopback ports, a real nats-server to
link them (cluster.nats), and the nodes started on that store and linked through it."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import harness
from harness import WAIT, Daemon, wait_until

NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")
SUBJECT = "tourbus.events"  # where the nodes publish their pushes (cluster.nats)


def server(test):
    """Points the harness at a PostgreSQL server: the fixture's, or a throwaway one of the test's."""
    if harness.postgres_base():
        return
    cluster = tempfile.mkdtemp(prefix="tourbus-pg-")
    os.chmod(cluster, 0o755)  # the postgres user must reach it when we are root
    test.addCleanup(shutil.rmtree, cluster, True)
    pg = harness.postgres().Postgres().start(os.path.join(cluster, "pg"))
    test.addCleanup(pg.stop)
    os.environ["TOURBUS_TEST_POSTGRES"] = pg.conninfo()
    os.environ["TOURBUS_TEST_POSTGRES_PASSWORD"] = pg.password


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A real nats-server on 127.0.0.1 at a free port, its log read as it is written, with its
    monitoring endpoint on another loopback port (who is connected, subscribed to what). stop()
    kills it; start() again (or restart()) brings it back on the same ports, so the nodes'
    cluster.nats URL stays right."""

    def __init__(self):
        if not os.access(NATS_SERVER, os.X_OK):
            raise RuntimeError("no %s: install Debian's nats-server (scripts/setup.sh)" % NATS_SERVER)
        self.dir = tempfile.mkdtemp(prefix="tourbus-nats-")
        self.port, self.monitor = free_port(), free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.proc = None
        self.reader = None
        self.lines = []  # every run's log, in order
        self.cond = threading.Condition()

    def start(self):
        mark = len(self.lines)
        self.proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor),
                                      "-P", os.path.join(self.dir, "nats-server.pid")],
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()
        deadline = time.monotonic() + WAIT
        with self.cond:
            while not any("Server is ready" in line for line in self.lines[mark:]):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("nats-server on port %d not ready (exit %s); log:\n%s"
                                         % (self.port, self.proc.poll(), "\n".join(self.lines[mark:])))
                self.cond.wait(min(left, 0.5))
        return self

    def subscribers(self, subject):
        """The names of the client connections subscribed to `subject` (the monitoring endpoint's
        /connz), or None while it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/connz?subs=1&limit=1024" % self.monitor, timeout=2) as r:
                connz = json.load(r)
        except OSError:
            return None
        return sorted(c.get("name", "") for c in connz.get("connections", []) if subject in c.get("subscriptions_list", []))

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self.proc:
            self.proc.wait(timeout=WAIT)
            self.reader.join(timeout=WAIT)
            self.proc.stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_nodes(test, names, config, nats):
    """Starts a node of each name on one PostgreSQL database, linked by `nats`, and returns them by
    name once each is ready, has logged cluster.nats_connected and nats-server has it subscribed
    to SUBJECT. The first node alone makes the database's tables (066_cluster starts nodes on an
    empty database at once), then the others start together. Their cleanups are the test's."""
    cluster = {"nats": nats.url}
    first = Daemon(config=config, node=names[0], cluster=cluster)
    test.addCleanup(first.cleanup)  # after the others': it drops the database they use
    nodes = {names[0]: first}
    for name in names[1:]:
        nodes[name] = Daemon(config=config, store_of=first, node=name, cluster=cluster)
        test.addCleanup(nodes[name].cleanup)
    first.start()
    others = [nodes[name] for name in names[1:]]
    for d in others:
        d.start(wait_ready=False)
    for d in others:
        line = d.wait_for(r"daemon\.ready")
        d.port = int(re.search(r"listen=127\.0\.0\.1:(\d+)", line).group(1))
    for d in nodes.values():
        d.wait_for(r"cluster\.nats_connected\b")
    wait_linked(nats, len(nodes))
    return nodes


def wait_linked(nats, count):
    """nats-server has `count` connections subscribed to SUBJECT (one for each node)."""
    last = [None]

    def check():
        last[0] = nats.subscribers(SUBJECT)
        return last[0] is not None and len(last[0]) == count

    wait_until(check, "the %d nodes subscribed to %s on nats-server" % (count, SUBJECT),
               describe=lambda: "; subscribed: %r" % (last[0],))
