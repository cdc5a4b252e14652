"""Test harness: starts the real tourbusd in a temp dir on a free loopback port and drives it
with the real tourbus CLI, curl and raw HTTP. Readiness and events are awaited by reading the
daemon's log as it is written, never by sleeping."""

import atexit
import http.client
import importlib.util
import itertools
import json
import os
import re
import resource
import shutil
import signal
import sys
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

TOURBUSD = os.environ.get("TOURBUSD", "build/daemon/tourbusd")
TOURBUS = os.environ.get("TOURBUS", "build/cmd/tourbus")
WAIT = 30  # seconds to wait for an event before the test fails

# PostgreSQL instead of SQLite (docs/scaling.md): with TOURBUS_TEST_POSTGRES set to a base libpq
# conninfo without dbname ("host=127.0.0.1 port=N user=tourbus"), or TOURBUS_TEST_POSTGRES_FILE
# naming a file that holds one (the CTest fixture "postgres: start" writes it: tests/postgres.py),
# every Daemon gets a database of its own on that server, named in a [cluster] table added to its
# config, the password (TOURBUS_TEST_POSTGRES_PASSWORD) as the systemd credential
# cluster.postgres_password. Without either variable, nothing here changes. A Daemon made with
# store_of=another Daemon shares that one's database instead (several nodes on one store),
# node="name" sets cluster.node in the [cluster] table, and cluster={key: value} adds other keys
# to it (cluster.nats, ...).
_databases = itertools.count(1)
_postgres_module = None
_undropped = set()  # (base, name) of the databases this process made and has not dropped yet


def _drop_undropped():
    """At exit: the databases of Daemons never cleaned up (a setUp whose start() failed)."""
    while _undropped:
        base, name = _undropped.pop()
        try:
            postgres().drop_database_as(base, os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD"), name)
        except Exception:
            pass


def postgres_base():
    """The base conninfo of the test PostgreSQL server, or None for SQLite."""
    base = os.environ.get("TOURBUS_TEST_POSTGRES")
    if not base and os.environ.get("TOURBUS_TEST_POSTGRES_FILE"):
        path = os.environ["TOURBUS_TEST_POSTGRES_FILE"]
        try:
            with open(path) as f:
                base = f.readline().strip()
        except OSError as e:
            raise AssertionError("TOURBUS_TEST_POSTGRES_FILE: %s (is the CTest fixture \"postgres: start\" "
                                 "run, or tests/postgres.py start?)" % e)
    return base or None


def postgres():
    """tests/postgres.py, as a module."""
    global _postgres_module
    if _postgres_module is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "postgres.py")
        spec = importlib.util.spec_from_file_location("tourbus_test_postgres", path)
        _postgres_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_postgres_module)
    return _postgres_module


def has_cluster_table(config):
    """Whether TOML text defines the cluster table itself ([cluster], [cluster.x] or cluster.x = ...)."""
    return re.search(r"^\s*(\[\s*\"?cluster\"?\s*[\].]|\"?cluster\"?\s*\.)", config, re.M) is not None


def wait_until(check, what, timeout=WAIT, describe=lambda: ""):
    """Polls check() until it returns something true, and returns that; fails naming `what` (and
    what describe() adds) at the deadline. For conditions with no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s%s" % (what, describe()))
        time.sleep(0.05)


def read_lines(stream, lines, cond):
    """A reader thread's loop over a process's log (its stderr, in text mode): appends each line,
    without its newline, to `lines` under `cond` and wakes its waiters; at the end of the stream
    wakes them once more, so that a waiter that sees the process gone and this thread finished
    knows no line is still to come (Daemon.wait_for, cluster.NatsServer.start)."""
    for line in stream:
        with cond:
            lines.append(line.rstrip("\n"))
            cond.notify_all()
    with cond:
        cond.notify_all()


# -- the store, read directly (Daemon.store_rows / store_exec) ------------------------------------
_markers = itertools.count(1)


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in the order of the text (row_to_json follows the
    select list; keys may repeat)."""


def _plain(value):
    """A value parsed with _Pairs back to ordinary JSON values (objects as dicts)."""
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _sqlite_value(value, pgtype):
    """A value of row_to_json as sqlite3 would give it, by the column's PostgreSQL type."""
    if value is None:
        return None
    if pgtype in ("double precision", "real"):
        return float(value)  # also "NaN", "Infinity", which JSON writes as strings
    if pgtype == "boolean":
        return int(value)
    if pgtype == "bytea":
        return bytes.fromhex(value[2:])  # "\x6162"
    if pgtype in ("json", "jsonb"):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, (_Pairs, list)):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)  # a composite or an array
    return value


def _literal(value):
    """A Python value as an SQL literal, for _bind."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"  # as sqlite3 binds it
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("no SQL literal for %r" % value)
        return repr(value)
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("PostgreSQL text cannot hold NUL: %r" % value)
        return "'" + value.replace("'", "''") + "'"  # standard_conforming_strings: backslashes are plain
    raise TypeError("no SQL literal for %s %r" % (type(value).__name__, value))


def _bind(sql, params):
    """sql with each `?` placeholder replaced by the literal of the next parameter; a `?` in a
    string literal, a quoted identifier or a comment is left alone. One statement only: a trailing
    `;` is dropped, any other `;` (or a backslash, a psql command) outside quotes is refused."""
    params = list(params)
    text = sql.rstrip().rstrip(";")
    out, i, n, used = [], 0, len(text), 0
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while True:
                j = text.find(c, j)
                if j < 0:
                    raise ValueError("unterminated %s in %r" % ("string" if c == "'" else "identifier", sql))
                if j + 1 < n and text[j + 1] == c:
                    j += 2  # a doubled quote stands for itself
                    continue
                break
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ValueError("unterminated comment in %r" % sql)
            out.append(text[i:j + 2])
            i = j + 2
        elif c == "?":
            if used == len(params):
                raise ValueError("more placeholders than the %d parameters in %r" % (len(params), sql))
            out.append(_literal(params[used]))
            used += 1
            i += 1
        elif c in ";\\":
            raise ValueError("one SQL statement, without %r outside quotes: %r" % (c, sql))
        else:
            out.append(c)
            i += 1
    if used != len(params):
        raise ValueError("%d parameters for %d placeholders in %r" % (len(params), used, sql))
    return "".join(out)


class Daemon:
    def __init__(self, workdir=None, config=None, args=(), env=None, store_of=None, node=None, cluster=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="tourbus-it-")
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.state, "tourbusd.sock")
        self.config = None
        self.postgres = postgres_base()  # None: SQLite at state/tourbus.db
        self.database = None  # this daemon's PostgreSQL database
        self.database_created = False
        self.postgres_in_config = False  # the config file holds the harness's [cluster] table
        # Another node on the same store: the Daemon whose database this one uses (made and
        # dropped by that one), and this node's cluster.node.
        self.store_of = store_of
        self.node = node
        self.cluster = dict(cluster or {})  # more keys of the harness's [cluster] table
        if store_of is not None and not self.postgres:
            raise ValueError("store_of: several nodes share a PostgreSQL store only (TOURBUS_TEST_POSTGRES)")
        if self.cluster and not self.postgres:
            raise ValueError("cluster: the harness writes a [cluster] table only on PostgreSQL (TOURBUS_TEST_POSTGRES)")
        if config is not None:
            self.write_config(config)
        self.args = list(args)
        self.proc = None
        self.fd_limit = None  # an RLIMIT_NOFILE (soft and hard) to start the daemon under
        self.env = dict(env or {})  # extra environment (CREDENTIALS_DIRECTORY, ...)
        self.lines = []
        self.cond = threading.Condition()
        self.port = None

    def write_config(self, text):
        self.config = os.path.join(self.dir, "tourbus.toml")
        if self.postgres:
            # A test's own [cluster] table is left as it is, and then the harness adds nothing.
            self.postgres_in_config = not has_cluster_table(text)
            if self.postgres_in_config:
                text += ("" if not text or text.endswith("\n") else "\n") + self.cluster_table()
        with open(self.config, "w") as f:
            f.write(text)

    # -- PostgreSQL (TOURBUS_TEST_POSTGRES) --------------------------------------------------------
    def database_name(self):
        """This daemon's database: store_of's when it shares one, else the one already made for this
        workdir (a restart, or a second Daemon on the same dir), else a new name, unique per Daemon."""
        if self.store_of is not None:
            self.database = self.store_of.database_name()
        elif self.database is None:
            path = os.path.join(self.dir, "postgres-database")
            if os.path.exists(path):
                with open(path) as f:
                    self.database = f.read().strip()
                self.database_created = True
            else:
                self.database = "it_%d_%d" % (os.getpid(), next(_databases))
        return self.database

    def cluster_table(self):
        whose = "this daemon's own database" if self.store_of is None else "the database it shares with other nodes"
        table = ("\n# Added by the test harness (TOURBUS_TEST_POSTGRES): %s.\n[cluster]\npostgres = %s\n"
                 % (whose, json.dumps("%s dbname=%s" % (self.postgres, self.database_name()))))
        table += ("node = %s\n" % json.dumps(self.node)) if self.node else ""
        return table + "".join("%s = %s\n" % (key, json.dumps(value)) for key, value in self.cluster.items())

    def _postgres_setup(self, env):
        """Before a start with TOURBUS_TEST_POSTGRES: the config to pass (one with just the [cluster]
        table when the test has none), the database made on the first start, the password
        written as the credential cluster.postgres_password (into the test's CREDENTIALS_DIRECTORY
        when it set one, else into one of the harness's, added to `env`)."""
        config = self.config
        if config is None:
            os.makedirs(self.dir, exist_ok=True)
            config = os.path.join(self.dir, "tourbus-postgres.toml")
            with open(config, "w") as f:
                f.write(self.cluster_table())
        elif not self.postgres_in_config:
            return config
        password = os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD")
        owner = self.store_of or self  # the Daemon whose database it is
        if not owner.database_created:
            owner._create_database(password)
        if password:
            creds = self.env.get("CREDENTIALS_DIRECTORY")
            if not creds:
                creds = os.path.join(self.dir, "credentials")
                os.makedirs(creds, mode=0o700, exist_ok=True)
                env["CREDENTIALS_DIRECTORY"] = creds
            path = os.path.join(creds, "cluster.postgres_password")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(password)
        return config

    def _create_database(self, password):
        # A database of this name can only be a dead test process's (same pid): replaced.
        postgres().create_database_as(self.postgres, password, self.database_name(), replace=True)
        if not _undropped:
            atexit.register(_drop_undropped)  # (a no-op when it has nothing left to drop)
        _undropped.add((self.postgres, self.database))
        self.database_created = True
        with open(os.path.join(self.dir, "postgres-database"), "w") as f:
            f.write(self.database + "\n")

    def drop_database(self):
        """Drops this daemon's own database (one it shares with another Daemon is that one's)."""
        if self.database_created:
            try:
                postgres().drop_database_as(self.postgres, os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD"),
                                            self.database)
            except Exception:
                pass  # the server is gone already; its directory goes with it
            _undropped.discard((self.postgres, self.database))
            self.database_created = False

    # -- the store, read (and written) directly ------------------------------------------------
    # For what no command shows. Both engines take the same SQL: standard SQL with `?` placeholders
    # (no `WHERE 1`, no integers as booleans, an alias for every subquery in FROM, one statement).
    @property
    def store_engine(self):
        """"postgresql" when the harness gave this daemon a database (TOURBUS_TEST_POSTGRES),
        else "sqlite" (state/tourbus.db; also when a test's own [cluster] table decides the store)."""
        owner = self.store_of or self
        return "postgresql" if self.postgres and owner.database_created else "sqlite"

    def store_conninfo(self):
        """The libpq conninfo of this daemon's PostgreSQL database (the password is apart)."""
        return "%s dbname=%s" % (self.postgres, self.database)

    def store_rows(self, sql, params=()):
        """The rows of a query on this daemon's store, as sqlite3 gives them: a list of tuples of
        int, float, str, bytes or None. Read-only on both engines. SQLite: a mode=ro connection to
        state/tourbus.db (waiting up to WAIT for a lock). PostgreSQL: psql on this daemon's database
        in a read-only transaction, the values as JSON (row_to_json, in the order of the select
        list), each converted by the column's type (psql's \\gdesc): double precision and real to
        float (JSON writes 1.0 as 1), boolean to 0/1, bytea to bytes, json to its text."""
        if self.store_engine == "sqlite":
            con = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self._store_path()), uri=True, timeout=WAIT)
            try:
                return con.execute(sql, tuple(params)).fetchall()
            finally:
                con.close()
        query = _bind(sql, params)
        marker = "tourbus-harness-rows-%d" % next(_markers)
        # First the columns' types ("name|type" lines), then a line of its own, then a JSON object a row.
        script = "%s\n\\gdesc\n\\echo %s\nSELECT row_to_json(q) FROM (%s\n) AS q;\n" % (query, marker, query)
        out = self._psql(["-q"], script=script, read_only=True)
        lines = out.split("\n")
        if marker not in lines:
            raise AssertionError("psql gave no rows for %r: %r" % (sql, out))
        cut = lines.index(marker)
        types = [l.rsplit("|", 1)[-1] for l in lines[:cut] if l]
        rows = []
        for line in lines[cut + 1:]:
            if not line:
                continue
            pairs = json.loads(line, object_pairs_hook=_Pairs)
            if len(pairs) != len(types):
                raise AssertionError("psql: %d values for %d columns (%r): %s" % (len(pairs), len(types), types, line))
            rows.append(tuple(_sqlite_value(v, t) for (_, v), t in zip(pairs, types)))
        return rows

    def store_exec(self, sql, params=()):
        """Runs one writing statement (UPDATE, DELETE, INSERT) on this daemon's store, committed;
        returns the number of rows it changed. For a test that fakes what only time would do."""
        if self.store_engine == "sqlite":
            con = sqlite3.connect(self._store_path(), timeout=WAIT)
            try:
                with con:
                    return con.execute(sql, tuple(params)).rowcount
            finally:
                con.close()
        # Without -q psql prints the command tag ("UPDATE 3"), whose last word is the row count.
        tag = self._psql([], command=_bind(sql, params)).split()
        return int(tag[-1]) if tag and tag[-1].isdigit() else None

    def store_dump(self):
        """PostgreSQL: the whole of this daemon's database as SQL text (pg_dump), to look for what
        must not be stored anywhere."""
        assert self.store_engine == "postgresql", "store_dump() is for PostgreSQL; SQLite's store is a file"
        r = subprocess.run([postgres().tool("pg_dump"), "-w", "--no-owner", "-d", self.store_conninfo()],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=WAIT,
                           env=postgres().clean_env(os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD")))
        if r.returncode != 0:
            raise AssertionError("pg_dump of %s failed (%d): %s" % (self.database, r.returncode, r.stderr.strip()))
        return r.stdout

    def _store_path(self):
        return os.path.join(self.state, "tourbus.db")

    def _psql(self, flags, script=None, command=None, read_only=False):
        """psql on this daemon's database: `script` on its standard input, or the one `command`
        (-c: sent as it is, no psql variables); returns the output (tuples only, unaligned)."""
        cmd = [postgres().tool("psql"), "-X", "-w", "-v", "ON_ERROR_STOP=1", "-At"] + flags
        cmd += ["-d", self.store_conninfo()]
        if command is not None:
            cmd += ["-c", command]
        env = postgres().clean_env(os.environ.get("TOURBUS_TEST_POSTGRES_PASSWORD"))
        if read_only:
            env["PGOPTIONS"] = "-c default_transaction_read_only=on"
        r = subprocess.run(cmd, input=script if command is None else "", capture_output=True, text=True, timeout=WAIT,
                           env=env)
        if r.returncode != 0:
            raise AssertionError("psql on %s failed (%d): %s\n%s" % (self.database, r.returncode, r.stderr.strip(),
                                                                     command if command is not None else script))
        return r.stdout

    # -- process -----------------------------------------------------------------------------
    def start(self, wait_ready=True, listen="127.0.0.1:0"):
        """Starts (or restarts) the daemon; `listen` may name a fixed port, e.g. the previous
        run's, for clients that reconnect to the same URL."""
        if self.proc:
            self.reader.join(timeout=WAIT)  # the previous run's log is complete
            self.proc.stderr.close()
        cmd = [TOURBUSD, "--state-dir", self.state, "--listen", listen] + self.args
        config, extra = self.config, {}
        if self.postgres:
            config = self._postgres_setup(extra)
        if config:
            cmd += ["--config", config]
        env = dict(os.environ)
        env.pop("TOURBUS_CONFIG", None)
        env.update(self.env)
        env.update(extra)
        self.lines = []
        limit = self.fd_limit
        preexec = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))) if limit else None
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True,
                                     preexec_fn=preexec)
        self.reader = threading.Thread(target=read_lines, args=(self.proc.stderr, self.lines, self.cond), daemon=True)
        self.reader.start()
        if wait_ready:
            line = self.wait_for("daemon.ready")
            self.port = int(re.search(r"listen=127\.0\.0\.1:(\d+)", line).group(1))
        return self

    def wait_for(self, pattern, start=0, timeout=WAIT):
        """Waits for a log line matching the regex, at or after line index `start`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                # Once the daemon has exited and its log is fully read, no new line can come.
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError("no log line matching %r; log:\n%s" % (pattern, "\n".join(self.lines)))
                self.cond.wait(min(left, 0.5))

    def log_mark(self):
        with self.cond:
            return len(self.lines)

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=WAIT)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=WAIT)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.reader.join(timeout=WAIT)
            self.proc.stderr.close()
            keep = os.environ.get("TOURBUS_TEST_LOGS")  # a directory: the daemons' logs are kept there
            if keep:
                os.makedirs(keep, exist_ok=True)
                name = "%s-%s.log" % (os.path.basename(sys.argv[0]).rsplit(".", 1)[0], self.node or os.path.basename(self.dir))
                with open(os.path.join(keep, name), "a") as f:
                    f.write(self.log_text() + "\n")
        if self.postgres:
            self.drop_database()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients -----------------------------------------------------------------------------
    def cli(self, *args, env=None):
        """Runs the tourbus CLI against this daemon's socket."""
        e = dict(os.environ)
        e.pop("TOURBUS_CONFIG", None)
        e["TOURBUS_SOCKET"] = self.socket
        if env:
            e.update(env)
        return subprocess.run([TOURBUS] + list(args), capture_output=True, text=True, env=e, timeout=WAIT)

    def cli_json(self, *args):
        r = self.cli("--json", *args)
        if r.returncode != 0:
            raise AssertionError("tourbus %s failed (%d): %s %s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def curl(self, method, path, body=None, extra=(), raw=False):
        """curl --unix-socket: returns (status, parsed JSON or text; the text itself when raw)."""
        cmd = ["curl", "-sS", "--unix-socket", self.socket, "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            if not any(str(x).lower().startswith("content-type:") for x in extra):
                cmd += ["-H", "Content-Type: application/json"]
            cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
        cmd += list(extra) + ["http://localhost" + path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT)
        if r.returncode != 0:
            raise AssertionError("curl failed: %s" % r.stderr)
        text, _, status = r.stdout.rpartition("\n")
        if raw:
            return int(status), text
        try:
            return int(status), json.loads(text)
        except ValueError:
            return int(status), text

    def http(self, method, path, body=None, token=None, headers=None, source=None):
        """HTTP over the TCP listener, from the loopback address `source` when given: returns
        (status, headers, parsed JSON). A dict or list body is sent as JSON, other bodies (text,
        bytes, an iterator of chunks) as they are."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT,
                                          source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body) if isinstance(body, (dict, list)) else body
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        res = conn.getresponse()
        raw = res.read()
        conn.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return res.status, dict(res.getheaders()), parsed

    def unix_connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.socket)
        return s


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 with keep-alive over the daemon's control socket (operator rights)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=WAIT)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.unix_path)
        self.sock = s


def read_http_response(sock):
    """Reads one HTTP/1.1 response (Content-Length framed) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


class DaemonTest(unittest.TestCase):
    """A test case with one running daemon per test, cleaned up afterwards."""

    config = None
    daemon_env = None

    def setUp(self):
        self.d = Daemon(config=self.config, env=self.daemon_env).start()
        self.addCleanup(self.d.cleanup)

    def add_user(self, handle, role="tourist", **fields):
        args = ["user", "add", handle, "--role", role]
        for k, v in fields.items():
            args += ["--" + k.replace("_", "-"), v]
        return self.d.cli_json(*args)

    def token(self, handle, *extra):
        r = self.d.cli("token", "issue", handle, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def assertCliError(self, result, exit_code, code):
        """The CLI failed with the exit code and, in --json mode, the API error code."""
        self.assertEqual(result.returncode, exit_code, "stdout=%s stderr=%s" % (result.stdout, result.stderr))
        self.assertTrue(result.stderr.startswith("tourbus: "), result.stderr)
        if result.stdout.strip().startswith("{"):
            self.assertEqual(json.loads(result.stdout)["error"]["code"], code)
