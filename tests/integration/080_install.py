"""cmake --install puts the binaries, the systemd unit and the man pages in place."""

import os
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ.get("TOURBUS_BUILD_DIR", "build")


class Install(unittest.TestCase):
    def test_install_tree(self):
        with tempfile.TemporaryDirectory(prefix="tourbus-install-") as dest:
            r = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=dest),
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            for path in ["usr/sbin/tourbusd", "usr/bin/tourbus", "usr/sbin/tourbus-backup", "usr/lib/systemd/system/tourbusd.service",
                         "usr/lib/systemd/system/tourbus-backup.service", "usr/lib/systemd/system/tourbus-backup.timer",
                         "usr/lib/systemd/system/tourbus-apertium.service",
                         "usr/share/man/man1/tourbus.1", "usr/share/man/man8/tourbusd.8",
                         "usr/share/man/man5/tourbus.toml.5"]:
                with self.subTest(path=path):
                    self.assertTrue(os.path.isfile(os.path.join(dest, path)))
            for binary in ["usr/sbin/tourbusd", "usr/bin/tourbus"]:
                r = subprocess.run([os.path.join(dest, binary), "--version"], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0)
            unit = open(os.path.join(dest, "usr/lib/systemd/system/tourbusd.service")).read()
            self.assertIn("Type=notify", unit)
            self.assertIn("ExecStartPre=/usr/sbin/tourbusd --check-config", unit)


if __name__ == "__main__":
    unittest.main()
