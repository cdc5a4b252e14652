"""Debian's Janus (1.1.2) for the preview tests: started in the foreground with a configuration of
the test's own (the HTTP transport on 127.0.0.1, the VideoRoom plugin alone with an admin key), on
a veth pair the test creates in its network namespace (Janus never gathers ICE candidates on
loopback). The caller must already be in a network namespace of its own (unshare --net)."""

import os
import shutil
import socket
import subprocess
import urllib.request
import json

from harness import wait_until

LIBDIR = "/usr/lib/x86_64-linux-gnu/janus"
ADMIN_KEY = "janus-admin-key-test"
API_SECRET = "janus-api-secret-test"
ADDRESS = "10.77.0.1"  # Janus's side of the veth pair (v0); the peer side (v1) is 10.77.0.2


def veth():
    """The veth pair v0 (10.77.0.1/24) <-> v1 (10.77.0.2/24), up; idempotent."""
    if subprocess.run(["ip", "link", "show", "v0"], capture_output=True).returncode == 0:
        return
    for cmd in (["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                ["ip", "addr", "add", ADDRESS + "/24", "dev", "v0"], ["ip", "addr", "add", "10.77.0.2/24", "dev", "v1"],
                ["ip", "link", "set", "v0", "up"], ["ip", "link", "set", "v1", "up"]):
        subprocess.run(cmd, check=True)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Janus:
    """Janus in the foreground. `url` is its HTTP API; recordings go under `recordings`."""

    def __init__(self, work):
        for tool in ("janus", "janus-pp-rec"):
            if not shutil.which(tool):
                raise AssertionError("%s is not installed: run scripts/setup.sh" % tool)
        veth()
        self.dir = os.path.join(work, "janus")
        self.recordings = os.path.join(work, "janus-recordings")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.recordings, exist_ok=True)
        self.port = free_tcp_port()
        self.url = "http://127.0.0.1:%d/janus" % self.port
        self._write_config()
        self.log = os.path.join(work, "janus.log")
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(["janus", "-F", self.dir, "-o", "-E", "v0"], stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(self.ready, "Janus answering on %s" % self.url, describe=self.tail)

    def _write_config(self):
        with open(os.path.join(self.dir, "janus.jcfg"), "w") as f:
            f.write("""general: {
  configs_folder = "%(dir)s"
  plugins_folder = "%(lib)s/plugins"
  transports_folder = "%(lib)s/transports"
  events_folder = "%(lib)s/events"
  loggers_folder = "%(lib)s/loggers"
  debug_level = 4
  admin_secret = "janus-admin-secret-test"
  api_secret = "%(api)s"
  session_timeout = 60
  protected_folders = ["/bin", "/boot", "/dev", "/etc", "/initrd", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/var"]
}
media: {
  rtp_port_range = "20000-20400"
}
nat: {
  ice_enforce_list = "v0"
  ignore_mdns = true
}
plugins: {
  disable = "libjanus_audiobridge.so,libjanus_echotest.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so,libjanus_lua.so,libjanus_duktape.so"
}
transports: {
  disable = "libjanus_websockets.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}
events: {
  broadcast = false
}
""" % {"dir": self.dir, "lib": LIBDIR, "api": API_SECRET})
        with open(os.path.join(self.dir, "janus.transport.http.jcfg"), "w") as f:
            f.write("""general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = %d
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
""" % self.port)
        with open(os.path.join(self.dir, "janus.plugin.videoroom.jcfg"), "w") as f:
            f.write('general: {\n  admin_key = "%s"\n  lock_rtp_forward = true\n}\n' % ADMIN_KEY)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("janus exited (%s): %s" % (self.proc.returncode, self.tail()))
        try:
            with urllib.request.urlopen(self.url.replace("/janus", "/janus/info"), timeout=1) as r:
                return json.load(r).get("janus") == "server_info"
        except OSError:
            return False

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return "\njanus.log:\n" + f.read()[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()

    def config(self):
        """The [calls] keys for tourbusd."""
        return {"janus_url": self.url, "janus_admin_key": ADMIN_KEY, "janus_api_secret": API_SECRET,
                "janus_recordings_dir": self.recordings}
