#!/usr/bin/python3
"""A throwaway PostgreSQL server for the tests (docs/scaling.md): a fresh cluster in a directory of
the test's own, listening on 127.0.0.1 at a free port and on a unix socket inside that directory,
with fsync on. It depends on nothing already running on the machine (Debian's packaged cluster on
5432 is never touched) and sends no traffic beyond loopback. Debian's python3, standard library.

As a module:

    pg = Postgres().start(tempfile.mkdtemp())
    pg.create_database("t1")
    conninfo = pg.conninfo("t1")   # "host=127.0.0.1 port=N dbname=t1 user=tourbus", no password
    password = pg.password         # "tourbus-test"
    pg.kill9(); pg.restart()       # for tests that kill PostgreSQL itself
    pg.stop()                      # stops the server and removes the directory

As a command (the CTest fixture "postgres: start" / "postgres: stop"):

    python3 tests/postgres.py start DIR   # prints "host=127.0.0.1 port=N user=tourbus", also in DIR/conninfo
    python3 tests/postgres.py stop DIR    # stops the server and removes DIR

Logins: the role `tourbus` (password `tourbus-test`, CREATEDB) over TCP with SCRAM; the superuser
`postgres` with trust over the unix socket alone (its directory is private to the server's user).
PostgreSQL refuses to run as root: as root, DIR is given to the `postgres` system user and initdb,
postgres and pg_ctl run through `runuser -u postgres --`."""

import glob
import locale
import os
import pwd
import re
import shutil
import tempfile
import signal
import socket
import subprocess
import sys
import time

USER = "tourbus"
PASSWORD = "tourbus-test"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # the account the server runs under when started by root
WAIT = 60  # seconds for the server to become ready or to stop (crash recovery included)


def bindir():
    """The newest /usr/lib/postgresql/*/bin (Debian's layout)."""
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.isfile(os.path.join(d, "postgres"))]
    if not dirs:
        raise RuntimeError("no PostgreSQL server in /usr/lib/postgresql/*/bin: run scripts/setup.sh")

    def version(d):
        return [int(x) if x.isdigit() else 0 for x in os.path.basename(os.path.dirname(d)).split(".")]

    return max(dirs, key=version)


def tool(name):
    """A PostgreSQL program: from the newest server's bin directory, else from PATH."""
    try:
        path = os.path.join(bindir(), name)
        if os.access(path, os.X_OK):
            return path
    except RuntimeError:
        pass
    found = shutil.which(name)
    if not found:
        raise RuntimeError("%s is not installed: run scripts/setup.sh" % name)
    return found


def clean_env(password=None):
    """The environment for PostgreSQL programs: none of the caller's PG* variables (a PGHOST,
    PGSERVICE or ~/.pgpass must not lead anywhere else), the password when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = os.path.join(os.devnull, "pgpass")  # none: no ~/.pgpass either
    env["PGCONNECT_TIMEOUT"] = "10"
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def psql(conninfo, *statements, password=None, timeout=WAIT):
    """Runs each statement in turn (each in its own transaction, so CREATE DATABASE may be one)
    through psql on `conninfo`; returns the output, tuples only and unaligned."""
    cmd = [tool("psql"), "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    for s in statements:
        cmd += ["-c", s]
    r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(password), stdin=subprocess.DEVNULL,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql on %r failed (%d): %s" % (conninfo, r.returncode, r.stderr.strip()))
    return r.stdout


def create_database_as(base, password, name, replace=False):
    """Creates database `name` (owned by the role in `base`, a conninfo without dbname) by
    connecting to the database postgres; with replace, drops a database of that name first."""
    statements = ["CREATE DATABASE %s" % quote_ident(name)]
    if replace:
        statements.insert(0, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(name))
    psql(base + " dbname=postgres", *statements, password=password)


def drop_database_as(base, password, name):
    psql(base + " dbname=postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(name), password=password)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_root():
    return os.geteuid() == 0


def as_server_user(cmd):
    """cmd to run as the server's user: through runuser when we are root, else as is."""
    return ["runuser", "-u", SYSTEM_USER, "--"] + cmd if as_root() else cmd


def alive(pid):
    """Whether process pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def cluster_processes(data):
    """The live processes of the cluster in `data`: PostgreSQL's, working in that data directory."""
    data = os.path.realpath(data)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if (os.readlink("/proc/%s/cwd" % entry) == data and os.path.basename(os.readlink("/proc/%s/exe" % entry))
                        in ("postgres", "postmaster") and alive(int(entry))):
                    found.append(int(entry))
            except OSError:
                pass  # gone, a zombie, or not ours to look at
    return found


def postmaster_pid(data):
    """The postmaster's pid from DATA/postmaster.pid, when it names the live postmaster of DATA."""
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
    except (FileNotFoundError, ValueError):
        return None
    # A stale file's pid may since belong to another process: the postmaster's working directory
    # is its data directory.
    try:
        here = os.readlink("/proc/%d/cwd" % pid) == os.path.realpath(data)
    except OSError:
        return None
    return pid if here and alive(pid) else None


def kill_cluster(data, timeout=WAIT):
    """kill -9 of the postmaster and every process it started, as a crash would: the postmaster
    first, so that it forks nothing more; returns once all of them are gone."""
    pm = postmaster_pid(data)
    if pm is not None:
        os.kill(pm, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        pids = cluster_processes(data)
        if not pids:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL processes %s still running after %d s" % (pids, timeout))
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def locale_args():
    """initdb's locale: C.UTF-8 (code point order, Unicode case mapping) where the C library has it."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        return ["--locale=C.UTF-8"]
    except locale.Error:
        return ["--no-locale"]
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


class Postgres:
    """One PostgreSQL cluster in a directory: DIR/data (the cluster), DIR/socket (its unix
    socket, mode 0700), DIR/postgres.log (initdb's and the server's output)."""

    def __init__(self):
        self.dir = None
        self.port = None
        self.proc = None  # the server process (runuser, whose child is the postmaster, when root)
        self.bin = bindir()

    @property
    def password(self):
        return PASSWORD

    def conninfo(self, dbname=None):
        """The libpq connection string for the role tourbus over TCP on loopback (no password:
        that is `password`, passed apart); without dbname, the base for other databases."""
        if dbname is None:
            return "host=127.0.0.1 port=%d user=%s" % (self.port, USER)
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.port, dbname, USER)

    def superuser_conninfo(self, dbname="postgres"):
        return "host=%s port=%d dbname=%s user=%s" % (self.socket_dir, self.port, dbname, SUPERUSER)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, dir, port=None):
        """Makes a fresh cluster in `dir` (created if missing; it must be empty) and starts it on
        `port`, or on a free port when None; returns self once it accepts connections."""
        self._paths(dir)
        os.makedirs(self.dir, exist_ok=True)
        if os.listdir(self.dir):
            raise RuntimeError("%s is not empty: a fresh cluster needs a directory of its own" % self.dir)
        os.makedirs(self.socket_dir, mode=0o700)
        open(self.log, "w").close()
        if as_root():
            account = pwd.getpwnam(SYSTEM_USER)
            for path in (self.dir, self.socket_dir, self.log):
                os.chown(path, account.pw_uid, account.pw_gid)
            os.chmod(self.dir, 0o700)
            if self._run(["test", "-w", self.dir, "-a", "-x", self.dir], check=False).returncode != 0:
                raise RuntimeError("the %s user cannot reach %s: its parent directories must be searchable by others"
                                   % (SYSTEM_USER, self.dir))
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", SUPERUSER, "-E", "UTF8",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"] + locale_args())
        self._configure()
        # A free port is only free until someone else takes it: on losing that race, another one.
        for attempt in range(5):
            self.port = port or free_port()
            self._write_settings()
            try:
                self._launch()
                break
            except RuntimeError as e:
                if port or "could not bind" not in str(e) or attempt == 4:
                    raise
        psql(self.superuser_conninfo(),
             "CREATE ROLE %s LOGIN CREATEDB PASSWORD %s" % (quote_ident(USER), quote_literal(PASSWORD)))
        return self

    def stop(self):
        """pg_ctl stop -m fast, then removes the directory."""
        if self.dir is None:
            return
        self._shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def kill9(self):
        """kill -9 of the postmaster and all its processes (a crash); the data stays for restart()."""
        kill_cluster(self.data)
        if self.proc:
            self.proc.wait(timeout=WAIT)
            self.proc = None

    def restart(self):
        """Starts the server again on the same port and data (after kill9(): crash recovery);
        when it is running, stops it first (fast)."""
        self._shutdown()
        self._launch()
        return self

    # -- databases ------------------------------------------------------------------------------
    def create_database(self, name):
        psql(self.superuser_conninfo(), "CREATE DATABASE %s OWNER %s" % (quote_ident(name), quote_ident(USER)))

    def drop_database(self, name):
        psql(self.superuser_conninfo(), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(name))

    def sql(self, statement, dbname="postgres"):
        """Runs one statement as the superuser; returns psql's unaligned output."""
        return psql(self.superuser_conninfo(dbname), statement)

    # -- internals ------------------------------------------------------------------------------
    def _paths(self, dir):
        self.dir = os.path.abspath(dir)
        self.data = os.path.join(self.dir, "data")
        self.socket_dir = os.path.join(self.dir, "socket")
        self.log = os.path.join(self.dir, "postgres.log")

    def _run(self, cmd, check=True):
        with open(self.log, "a") as log:
            r = subprocess.run(as_server_user(cmd), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               cwd=self.dir, env=clean_env(), timeout=WAIT * 2)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d)%s" % (os.path.basename(cmd[0]), r.returncode, self.tail()))
        return r

    def _own(self, path):
        if as_root():
            account = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _configure(self):
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("# tests/postgres.py: the superuser over the unix socket (in a directory private to the\n"
                    "# server's user), every role over TCP on loopback with a SCRAM password. Nothing else.\n"
                    "local   all   %s                  trust\n"
                    "host    all   all        127.0.0.1/32   scram-sha-256\n" % SUPERUSER)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# tests/postgres.py\ninclude 'tourbus-test.conf'\n")

    def _write_settings(self):
        path = os.path.join(self.data, "tourbus-test.conf")
        with open(path, "w") as f:
            f.write("listen_addresses = '127.0.0.1'\n"
                    "port = %d\n"
                    "unix_socket_directories = %s\n"
                    "unix_socket_permissions = 0700\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n"
                    "full_page_writes = on\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "max_connections = 300\n"  # tests run in parallel, each daemon with a pool of its own
                    "logging_collector = off\n"
                    "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n" % (self.port, quote_literal(self.socket_dir)))
        self._own(path)
        if len(os.path.join(self.socket_dir, ".s.PGSQL.%d.lock" % self.port)) > 107:
            raise RuntimeError("%s is too long a path for a unix socket: choose a shorter directory" % self.socket_dir)

    def _launch(self):
        """Starts `postgres` in a session of its own, its output appended to the log, and polls
        pg_isready on its unix socket (ours alone: a reply cannot come from another server; the
        TCP listener is bound before it) until it accepts connections or exits."""
        mark = os.path.getsize(self.log)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(as_server_user([os.path.join(self.bin, "postgres"), "-D", self.data]),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.dir, env=clean_env(), start_new_session=True)
        isready = [os.path.join(self.bin, "pg_isready"), "-q", "-t", "2", "-h", self.socket_dir, "-p", str(self.port),
                   "-U", SUPERUSER, "-d", "postgres"]
        deadline = time.monotonic() + WAIT
        while True:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise RuntimeError("postgres exited (%d) while starting%s" % (code, self.tail(mark)))
            if subprocess.run(isready, env=clean_env(), stdin=subprocess.DEVNULL).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("postgres not ready after %d s%s" % (WAIT, self.tail(mark)))
            time.sleep(0.05)

    def _shutdown(self):
        """pg_ctl stop -m fast when the server runs; waits for it (and its runuser) to end."""
        if postmaster_pid(self.data):
            self._run([os.path.join(self.bin, "pg_ctl"), "stop", "-D", self.data, "-m", "fast", "-w", "-t", str(WAIT)],
                      check=False)
        if cluster_processes(self.data):  # a stop that failed, or what a killed postmaster left
            kill_cluster(self.data)
        if self.proc:
            self.proc.wait(timeout=WAIT)
            self.proc = None

    def tail(self, mark=0):
        try:
            with open(self.log, errors="replace") as f:
                f.seek(mark)
                return "\npostgres.log:\n" + f.read()[-4000:]
        except (OSError, TypeError):
            return ""


def stop_dir(dir):
    """Stops the cluster of `dir` (made by main: DIR/cluster, else DIR itself; if it runs: pg_ctl
    stop -m fast) and removes it and `dir`."""
    link = os.path.join(dir, "cluster")
    cluster = os.path.realpath(link) if os.path.lexists(link) else dir
    pg = Postgres()
    pg._paths(cluster)
    if os.path.isdir(pg.data):
        pg._shutdown()
    shutil.rmtree(pg.dir, ignore_errors=True)
    shutil.rmtree(dir, ignore_errors=True)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: %s start|stop DIR\n" % argv[0])
        return 2
    command, dir = argv[1], os.path.abspath(argv[2])
    if command == "stop":
        stop_dir(dir)
        return 0
    if os.path.exists(dir):
        # A previous run's, left by an interrupted test run: stopped and replaced.
        sys.stderr.write("postgres.py: removing the previous cluster in %s\n" % dir)
        stop_dir(dir)
    # The cluster itself goes under the system temp dir, which the postgres user can always reach
    # (a build directory under /root cannot be); DIR keeps the conninfo and a link to it.
    os.makedirs(dir)
    cluster = tempfile.mkdtemp(prefix="tourbus-pg-")
    os.chmod(cluster, 0o755)
    os.symlink(cluster, os.path.join(dir, "cluster"))
    pg = Postgres()
    try:
        pg.start(os.path.join(cluster, "pg"))
    except Exception as e:
        sys.stderr.write("postgres.py: %s\n" % e)
        stop_dir(dir)
        return 1
    line = pg.conninfo()
    with open(os.path.join(dir, "conninfo"), "w") as f:
        f.write(line + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
