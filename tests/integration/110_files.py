"""Files and photos: uploads over HTTP are sniffed (libmagic) and checked against the allow-list
whatever their name says, stored content-addressed and durably, shared in a message, and
downloadable only by members of a conversation where they were shared."""

import hashlib
import os
import struct
import unittest
import zlib

from harness import DaemonTest

CONFIG = """[files]
max_bytes = 8192
"""


def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = b"".join(b"\x00" + b"\x80\x20\x10" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Files(DaemonTest):
    config = CONFIG

    def setUp(self):
        super().setUp()
        for h in ["alice", "bob", "eve"]:
            self.add_user(h)
        self.add_user("gina", role="guide")
        self.tok = {h: self.token(h) for h in ["alice", "bob", "eve", "gina"]}
        # alice and bob share a tour, so alice may start a conversation with bob
        self.d.cli_json("tour", "add", "--title", "Pantheon", "--start", "2026-12-01T10:00", "--end", "2026-12-01T11:00",
                        "--tz", "Europe/Rome", "--guide", "gina", "-p", "alice", "-p", "bob")
        status, _, conv = self.d.http("POST", "/v1/conversations", {"kind": "direct", "with": "bob"}, token=self.tok["alice"])
        self.assertEqual(status, 201, conv)
        self.conv = conv["id"]

    def upload(self, handle, data, name, ctype="application/octet-stream"):
        return self.d.http("POST", "/v1/files?name=" + name, data, token=self.tok[handle], headers={"Content-Type": ctype})

    def test_photo_shared_and_downloaded_by_members_only(self):
        image = png(3, 2)
        status, _, f = self.upload("alice", image, "..%2F..%2Fetc%2Fpasswd", "image/jpeg")
        self.assertEqual(status, 201, f)
        self.assertEqual((f["content_type"], f["width"], f["height"], f["size"]), ("image/png", 3, 2, len(image)))
        self.assertEqual(f["name"], "passwd")  # a client's name is for display; never a path
        self.assertEqual(f["sha256"], hashlib.sha256(image).hexdigest())
        blob = os.path.join(self.d.state, "files", f["sha256"][:2], f["sha256"])
        with open(blob, "rb") as fh:
            self.assertEqual(fh.read(), image)

        # not shared yet: only the uploader sees it
        path = "/v1/files/%d/content" % f["id"]
        self.assertEqual(self.d.http("GET", path, token=self.tok["bob"])[0], 404)
        status, _, m = self.d.http("POST", "/v1/conversations/%d/messages" % self.conv,
                                   {"kind": "file", "file": f["id"], "text": "our view"}, token=self.tok["alice"])
        self.assertEqual(status, 201, m)
        self.assertEqual((m["kind"], m["file"]["id"], m["file"]["width"], m["text"]), ("file", f["id"], 3, "our view"))

        # bob, a member, downloads the same bytes; eve does not learn it exists
        conn_status, headers, body = self.raw_get(path, self.tok["bob"])
        self.assertEqual(conn_status, 200)
        self.assertEqual(body, image)
        self.assertEqual(headers["content-type"], "image/png")
        self.assertTrue(headers["content-disposition"].startswith('attachment; filename="passwd"'))
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(self.d.http("GET", path, token=self.tok["eve"])[0], 404)
        self.assertEqual(self.d.http("GET", "/v1/files/%d" % f["id"], token=self.tok["eve"])[0], 404)
        status, _, shown = self.d.http("GET", "/v1/files/%d" % f["id"], token=self.tok["bob"])
        self.assertEqual((status, shown["content_type"]), (200, "image/png"))
        # eve cannot share a file she cannot see
        status, _, err = self.d.http("POST", "/v1/conversations/%d/messages" % self.conv,
                                     {"kind": "file", "file": f["id"]}, token=self.tok["eve"])
        self.assertEqual(status, 404)

        # the same bytes again: one blob, two files
        status, _, f2 = self.upload("bob", image, "copy.png")
        self.assertEqual((status, f2["sha256"]), (201, f["sha256"]))
        self.assertNotEqual(f2["id"], f["id"])

    def test_lying_extension_oversize_and_empty_uploads_are_refused(self):
        for data, name in [(b"#!/bin/sh\nrm -rf ~\n", "holiday.jpg"),
                           (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "photo.png"),
                           (b"<html><script>alert(1)</script></html>", "menu.pdf")]:
            status, _, err = self.upload("alice", data, name, "image/jpeg")
            self.assertEqual((status, err["error"]["code"]), (415, "unsupported_media_type"), name)
        status, _, err = self.upload("alice", png(3, 2) + b"\x00" * 9000, "big.png")
        self.assertEqual((status, err["error"]["code"]), (413, "payload_too_large"))
        self.assertIn("files.max_bytes", err["error"]["message"])
        status, _, err = self.upload("alice", b"", "empty.png")
        self.assertEqual((status, err["error"]["code"]), (400, "invalid_argument"))
        # a PDF is welcome, whatever it is called
        status, _, f = self.upload("alice", b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", "ticket")
        self.assertEqual((status, f["content_type"]), (201, "application/pdf"))
        # nothing refused reached the files directory
        stored = [n for _, _, names in os.walk(os.path.join(self.d.state, "files")) for n in names]
        self.assertEqual(stored, [f["sha256"]])
        # without a token nothing is uploaded
        self.assertEqual(self.d.http("POST", "/v1/files", b"%PDF-1.4")[0], 401)

    def raw_get(self, path, token):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        res = conn.getresponse()
        body = res.read()
        conn.close()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, body


if __name__ == "__main__":
    unittest.main()
