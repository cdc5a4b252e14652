"""Node packages for the scenarios: a folder's package.json and package-lock.json are installed
with `npm ci` once per lock file, in a cache outside the source tree (cache_root()). Used
for the Socket.IO clients of tests/socketio/ and examples/, and for the official Engine.IO and
Socket.IO suites in shared/conformance/ (beside the clone: see shared_dir())."""

import fcntl
import hashlib
import os
import pathlib
import shutil
import subprocess

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
INSTALL_TIMEOUT = 600  # seconds for one `npm ci`; the packages come from the npm registry


def shared_dir():
    """The shared folder beside the clone (CI lays a copy of it there)."""
    return REPO.parent / "shared"


def cache_root():
    """Where installs are kept: $TOURBUS_NODE_CACHE, else ~/.cache/tourbus/node, shared by every
    build dir of every clone (installs are keyed by their lock file, so they never go stale; the
    normal and the sanitizer build of one test run install each lock file once between them)."""
    if os.environ.get("TOURBUS_NODE_CACHE"):
        return pathlib.Path(os.environ["TOURBUS_NODE_CACHE"]).resolve()
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "tourbus" / "node"


def node():
    """The node executable; fails naming the fix when Node.js is not installed."""
    exe = shutil.which("node")
    if not exe:
        raise AssertionError("node is not installed: run scripts/setup.sh (it installs nodejs and npm)")
    return exe


def node_modules(src_dir):
    """Installs src_dir's locked packages (once per lock file, whoever asks first; parallel test
    runs wait for that one install) and returns the folder that holds their node_modules/."""
    src = pathlib.Path(src_dir).resolve()
    files = {name: (src / name).read_bytes() for name in ("package.json", "package-lock.json")}
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm is not installed: run scripts/setup.sh (it installs nodejs and npm); "
                             "needed for the packages of %s" % src)
    node()
    key = hashlib.sha256(files["package.json"] + b"\0" + files["package-lock.json"]).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    dest = root / ("%s-%s-%s" % (src.parent.name, src.name, key))  # e.g. tests-socketio-1f2e...
    done = dest / ".installed"
    with open(root / (dest.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if this process dies
        if done.exists():
            return dest
        shutil.rmtree(dest, ignore_errors=True)  # what an interrupted install left
        dest.mkdir()
        for name, data in files.items():
            (dest / name).write_bytes(data)
        try:
            # As bench/run: the machine's CA store is trusted too (a company's TLS-inspecting proxy
            # added with update-ca-certificates); an explicit NODE_EXTRA_CA_CERTS wins.
            env = dict(os.environ)
            if not env.get("NODE_EXTRA_CA_CERTS") and os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
                env["NODE_EXTRA_CA_CERTS"] = "/etc/ssl/certs/ca-certificates.crt"
            r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest, env=env,
                               capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError("npm ci of %s took more than %d s" % (src, INSTALL_TIMEOUT))
        if r.returncode != 0:
            raise AssertionError("npm ci of %s failed (%d) in %s:\n%s%s" % (src, r.returncode, dest, r.stdout, r.stderr))
        done.write_text(key + "\n")
        return dest
