"""Local protocol peers for the notification integration tests: servers that play the providers
tourbusd delivers to (Twilio and JSON webhooks over HTTP/1.1, the FCM HTTP v1 API with its OAuth2
token endpoint, APNs over HTTP/2 with ALPN, SMTP with AUTH/STARTTLS/SMTPS, Web Push endpoints),
record everything they receive, in order, and check it the way the real provider would.

Every server binds 127.0.0.1 on port 0, exposes `.port` and `.url`, runs in background threads from
its constructor and stops in `close()` (so `self.addCleanup(peer.close)` works). Arrivals are
awaited with `wait_requests(n)`, which blocks on a condition with a deadline, never by sleeping.

A request that breaks the protocol (bad JWT, wrong auth, malformed body...) is answered with the
provider's error and recorded with `request.error` set; `peer.errors()` lists them and
`peer.assert_no_errors()` fails a test with them. Scripted answers (`respond`, `fail_send`,
`fail_next`...) are deliberate and leave `error` unset.

Needs Debian's python3-cryptography, python3-h2 and python3-aiosmtpd (and curl/openssl for the
self-check). Run this file to self-check every peer with independent clients:
    /usr/bin/python3 tests/integration/peers.py
"""

import asyncio
import base64
import collections
import datetime
import email
import email.policy
import hashlib
import hmac
import http.server
import itertools
import json
import logging
import os
import re
import secrets
import selectors
import shutil
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import WAIT

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DROP = "drop"  # a scripted "status" that closes the connection without answering


class CheckFailed(AssertionError):
    """A peer's protocol check failed (raised by the verifiers; a test failure when uncaught)."""


# -- encodings and JWT ---------------------------------------------------------------------------
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data):
    """base64url without padding (RFC 7515 / RFC 8291 style)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Strict base64url without padding: rejects '=', '+', '/' and other stray characters."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CheckFailed("not unpadded base64url: %r" % text[:80])
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_hmac_sha256(secret, body):
    """Hex HMAC-SHA256 of body (str or bytes) with secret (str or bytes), as webhook signatures use."""
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(body, str):
        body = body.encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def jwt_decode(token):
    """Splits a compact JWS without verifying it: (header, claims, signing_input, signature)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise CheckFailed("not a compact JWT (3 dot-separated parts): %r" % (token,))
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as e:
        raise CheckFailed("JWT header/claims are not base64url JSON: %s" % e)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CheckFailed("JWT header and claims must be JSON objects")
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), b64url_decode(parts[2])


def sign_jwt(private_key, claims, headers=None):
    """Signs claims as a compact JWT: RS256 for an RSA key, ES256 (raw R||S) for a P-256 key.
    private_key is a cryptography key object or PEM bytes/str. Used by the self-check and by
    tests that need a valid token from the 'other side'."""
    if isinstance(private_key, (bytes, str)):
        data = private_key.encode() if isinstance(private_key, str) else private_key
        private_key = serialization.load_pem_private_key(data, password=None)
    alg = "RS256" if isinstance(private_key, rsa.RSAPrivateKey) else "ES256"
    header = {"alg": alg, "typ": "JWT"}
    header.update(headers or {})
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()
    if alg == "RS256":
        sig = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input.decode() + "." + b64url(sig)


def verify_jwt(token, public_key, alg):
    """Verifies a compact JWT's signature with public_key; alg is 'RS256' or 'ES256' (the ES256
    signature must be the 64-byte JOSE R||S form, not DER). Returns (header, claims)."""
    header, claims, signing_input, sig = jwt_decode(token)
    if header.get("alg") != alg:
        raise CheckFailed("JWT alg is %r, expected %r" % (header.get("alg"), alg))
    try:
        if alg == "RS256":
            public_key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            if len(sig) != 64:
                raise CheckFailed("ES256 signature is %d bytes, expected 64 (JOSE R||S, not DER)" % len(sig))
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise CheckFailed("unsupported alg %r" % alg)
    except CheckFailed:
        raise
    except Exception as e:  # cryptography's InvalidSignature carries no message
        raise CheckFailed("JWT signature does not verify (%s)" % (type(e).__name__,))
    return header, claims


def _load_private_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def _p256_point(public_key):
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


# -- certificates and keys -----------------------------------------------------------------------
class Certificate:
    """A self-signed P-256 certificate for localhost / 127.0.0.1, written as PEM files into
    `dir`: `.cert` (also the CA file clients trust) and `.key` (PKCS#8)."""

    def __init__(self, dir, name="peer", hosts=("localhost",), ips=("127.0.0.1",)):
        import ipaddress
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else ips[0]),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tourbus test peer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(ski, critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
                .sign(key, hashes.SHA256()))
        os.makedirs(dir, exist_ok=True)
        self.cert = os.path.join(dir, name + "-cert.pem")
        self.key = os.path.join(dir, name + "-key.pem")
        with open(self.cert, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(self.key, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(self.key, 0o600)

    def server_context(self, alpn=None):
        """An SSLContext for a server presenting this certificate (ALPN list optional)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def client_context(self, alpn=None):
        """An SSLContext for a client that trusts exactly this certificate."""
        ctx = ssl.create_default_context(cafile=self.cert)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx


def make_service_account(dir, token_uri, project_id, client_email=None):
    """Writes a Google service-account JSON key file (RSA 2048 PKCS#8 PEM key) whose token_uri
    points at our token endpoint; returns its path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_email = client_email or "tourbus-push@%s.iam.gserviceaccount.com" % project_id
    client_id = str(secrets.randbelow(10 ** 21))
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" +
                                urllib.parse.quote(client_email),
        "universe_domain": "googleapis.com",
    }
    os.makedirs(dir, exist_ok=True)
    path = os.path.join(dir, "service-account-%s.json" % project_id)
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
    os.chmod(path, 0o600)
    return path


def make_apns_key(dir):
    """Writes an APNs auth key like Apple's AuthKey_<KEYID>.p8 (PKCS#8 P-256, 'BEGIN PRIVATE
    KEY'); returns (p8_path, key_id, team_id)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(10))
    team_id = "".join(secrets.choice(alphabet) for _ in range(10))
    key = ec.generate_private_key(ec.SECP256R1())
    os.makedirs(dir, exist_ok=True)
    path = os.path.join(dir, "AuthKey_%s.p8" % key_id)
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return path, key_id, team_id


# -- recording -----------------------------------------------------------------------------------
class Headers(collections.abc.Mapping):
    """Case-insensitive, order-preserving headers. h['x'] / h.get('x') give the first value,
    h.get_all('x') every value, h.raw the (name, value) pairs as received."""

    def __init__(self, pairs=()):
        self.raw = [(str(k), str(v)) for k, v in pairs]

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.raw if k.lower() == n]

    def __getitem__(self, name):
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def __iter__(self):
        seen = []
        for k, _ in self.raw:
            if k.lower() not in seen:
                seen.append(k.lower())
        return iter(seen)

    def __len__(self):
        return len(set(k.lower() for k, _ in self.raw))

    def __repr__(self):
        return "Headers(%r)" % self.raw


class Request:
    """One recorded HTTP request (HTTP/1.1 or HTTP/2). `status` is what the peer answered,
    `error` why the peer rejected it (None when the request was well-formed), `kind` the
    peer-specific request type ('token', 'send', 'push', 'apns'...); peers add attributes
    (jwt_header, jwt_claims, device_token, plaintext, vapid...)."""

    def __init__(self, method, target, headers, body, version, connection):
        self.method = method
        split = urllib.parse.urlsplit(target)
        self.target = target
        self.path = split.path
        self.query_all = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.query = {k: v[0] for k, v in self.query_all.items()}
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body)
        self.version = version
        self.connection = connection  # an id: equal for requests on the same connection
        self.time = time.time()
        self.status = None
        self.error = None
        self.kind = None

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailed("%s %s: body is not JSON: %r" % (self.method, self.path, self.body[:200]))

    def form(self):
        """The urlencoded body as {name: first value} (see form_all() for repeated names)."""
        return {k: v[0] for k, v in self.form_all().items()}

    def form_all(self):
        return urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)

    def basic_auth(self):
        """(user, password) from an Authorization: Basic header, or None."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except ValueError:
            return None
        return user, password

    def bearer(self):
        """The token from an Authorization: Bearer header, or None."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def __repr__(self):
        return "<%s %s %s -> %s%s>" % (self.version, self.method, self.target, self.status,
                                      " error=%r" % self.error if self.error else "")


class Response:
    """A scripted answer. body: dict/list (sent as JSON), str (text), bytes, None (empty), or a
    callable(request) returning one of those. status may be DROP to close without answering."""

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = list(headers.items()) if isinstance(headers, dict) else list(headers or [])

    def render(self, request):
        """(status, [(name, value)], bytes) for this request."""
        body = self.body(request) if callable(self.body) else self.body
        headers = list(self.headers)
        names = {k.lower() for k, _ in headers}
        if body is None:
            data = b""
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            if "content-type" not in names:
                headers.append(("Content-Type", "application/json; charset=UTF-8"))
        elif isinstance(body, str):
            data = body.encode()
            if "content-type" not in names:
                headers.append(("Content-Type", "text/plain; charset=utf-8"))
        else:
            data = bytes(body)
        return self.status, headers, data


def _as_response(value):
    if value is None or isinstance(value, Response):
        return value
    if isinstance(value, tuple):  # (status, headers, body)
        status, headers, body = value
        return Response(status, body, headers)
    raise TypeError("a responder must return a Response, a (status, headers, body) tuple or None")


class _Recorder:
    """Ordered recording with a condition variable, shared by every peer."""

    def __init__(self):
        self._cond = threading.Condition()
        self._records = []
        self._fds = set()  # live connection file descriptors, shut down on close()
        self.connection_errors = []  # (peer address, message) of connections that failed (e.g. TLS)

    def _record(self, item):
        with self._cond:
            self._records.append(item)
            self._cond.notify_all()

    @property
    def requests(self):
        """A snapshot of everything received so far, in arrival order."""
        with self._cond:
            return list(self._records)

    def mark(self):
        """The number recorded so far: pass as `since` to wait for newer ones only."""
        with self._cond:
            return len(self._records)

    def wait_requests(self, n, timeout=WAIT, where=None, since=0):
        """Blocks until at least n records (from index `since`, matching `where`: a path string
        or a predicate) have arrived and returns them all; fails with AssertionError naming what
        was expected and what did arrive."""
        if where is None:
            match = lambda r: True
        elif callable(where):
            match = where
        else:
            match = lambda r: getattr(r, "path", None) == where
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._records[since:] if match(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: expected %d request(s)%s within %gs, got %d; all received: %r" % (
                        type(self).__name__, n, "" if where is None else " matching %r" % (where,),
                        timeout, len(got), self._records))
                self._cond.wait(left)

    def errors(self):
        """Descriptions of the recorded requests the peer rejected as malformed."""
        return ["%r: %s" % (r, r.error) for r in self.requests if getattr(r, "error", None)]

    def assert_no_errors(self):
        errs = self.errors()
        if errs:
            raise AssertionError("%s received malformed requests:\n%s" % (type(self).__name__, "\n".join(errs)))

    def _track(self, fd):
        with self._cond:
            self._fds.add(fd)

    def _untrack(self, fd):
        with self._cond:
            self._fds.discard(fd)

    def _shutdown_connections(self):
        with self._cond:
            fds = list(self._fds)
            self._fds.clear()
        for fd in fds:
            try:  # shutdown() acts on the connection, so a dup of the descriptor is enough
                s = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.shutdown(socket.SHUT_RDWR)
                finally:
                    s.close()
            except OSError:
                pass


# -- HTTP/1.1 ------------------------------------------------------------------------------------
class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, peer, ssl_context):
        self.peer = peer
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _HttpHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context:  # handshake later, in the connection's own thread
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.peer._track(sock.fileno())
        return sock, addr

    def shutdown_request(self, request):
        try:
            self.peer._untrack(request.fileno())
        except OSError:
            pass
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        import sys
        e = sys.exc_info()[1]
        if not self.peer._closing:
            with self.peer._cond:
                self.peer.connection_errors.append((client_address, "%s: %s" % (type(e).__name__, e)))
                self.peer._cond.notify_all()


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this, like real servers do
    server_version = "tourbus-test-peer"

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, *args):
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        peer = self.server.peer
        body = self._read_body()
        req = Request(self.command, self.path, self.headers.items(), body, self.request_version,
                      "%s:%d" % self.client_address)
        status, headers, data = peer._dispatch(req)
        if status == DROP:
            self.close_connection = True
            try:
                socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(status)
        names = {k.lower() for k, _ in headers}
        for k, v in headers:
            self.send_header(k, v)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class HttpPeer(_Recorder):
    """An HTTP/1.1 server (HTTPS when given a Certificate; ALPN http/1.1) recording every Request.

    Answers come, in order of precedence, from: the peer's own protocol checks (subclasses), the
    per-path queue filled by `respond()` (path '*' matches any path), the per-path default
    (`set_default()` / `route()`), the subclass's normal answer, and finally 200 with JSON {}.
    `responses` pre-fills the queue: {path: [(status, headers, body), ...]}."""

    def __init__(self, tls=None, responses=None):
        super().__init__()
        self.certificate = tls
        self._closing = False
        self._queues = collections.defaultdict(collections.deque)
        self._defaults = {}
        for path, items in (responses or {}).items():
            for status, headers, body in items:
                self.respond(path, status, body=body, headers=headers)
        ctx = tls.server_context(alpn=["http/1.1"]) if tls else None
        self._server = _HttpServer(self, ctx)
        self.port = self._server.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="%s-%d" % (type(self).__name__, self.port), daemon=True)
        self._thread.start()

    def close(self):
        """Stops the server and drops its open connections (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._server.shutdown()
        self._server.server_close()
        self._shutdown_connections()
        self._thread.join(WAIT)

    # -- scripting --------------------------------------------------------------------------------
    def respond(self, path, status, body=None, headers=None, times=1):
        """Queues `times` answers for `path` ('*': any path), consumed in order before defaults."""
        with self._cond:
            for _ in range(times):
                self._queues[path].append(Response(status, body, headers))

    def set_default(self, path, status=200, body=None, headers=None):
        """The answer for `path` ('*': any path) once its queue is empty."""
        with self._cond:
            self._defaults[path] = Response(status, body, headers)

    def route(self, path, responder):
        """Like set_default, but computed: responder(request) returns a Response, a
        (status, headers, body) tuple, or None to fall through. It may set request.error."""
        with self._cond:
            self._defaults[path] = responder

    # -- hooks for subclasses -----------------------------------------------------------------
    def check(self, req):
        """Protocol checks; returns an error Response (setting req.error) or None."""
        return None

    def answer(self, req):
        """The subclass's normal answer for a well-formed request, or None."""
        return None

    def _scripted(self, req):
        with self._cond:
            for key in (req.path, "*"):
                if self._queues.get(key):
                    return self._queues[key].popleft()
            for key in (req.path, "*"):
                d = self._defaults.get(key)
                if isinstance(d, Response):
                    return d
                if d is not None:
                    break
        return _as_response(d(req)) if d is not None else None

    def _dispatch(self, req):
        try:
            resp = self.check(req) or self._scripted(req) or self.answer(req) or Response(200, {})
            status, headers, data = resp.render(req)
        except Exception as e:  # a bug in a responder: answer 500 and make it visible
            req.error = req.error or "peer failed handling the request: %s: %s" % (type(e).__name__, e)
            status, headers, data = 500, [], b""
        req.status = status
        self._record(req)
        return status, headers, data


def _error(req, status, message, body=None, headers=None):
    """Marks req as malformed and returns the error answer."""
    req.error = message
    return Response(status, body, headers)


# -- Twilio --------------------------------------------------------------------------------------
def twilio_path(sid):
    """The Messages resource path for account sid."""
    return "/2010-04-01/Accounts/%s/Messages.json" % sid


def twilio_ok(sid, request=None):
    """A Message resource like Twilio's 201 answer (fields from request's form when given)."""
    form = request.form() if request is not None else {}
    msid = "SM" + secrets.token_hex(16)
    now = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc), usegmt=False)
    uri = "/2010-04-01/Accounts/%s/Messages/%s" % (sid, msid)
    return {
        "account_sid": sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
        "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
        "price": None, "price_unit": "USD", "sid": msid, "status": "queued",
        "subresource_uris": {"media": uri + "/Media.json"}, "to": form.get("To"), "uri": uri + ".json",
    }


def twilio_error(code, message, status=400):
    """A Twilio REST error body, e.g. twilio_error(21211, "Invalid 'To' Phone Number")."""
    return {"code": code, "message": message, "more_info": "https://www.twilio.com/docs/errors/%d" % code,
            "status": status}


def twilio_responder(sid, token):
    """A route() responder playing Twilio's Messages endpoint: checks HTTP Basic sid:token, a
    form body with To, From (or MessagingServiceSid) and Body; answers 201 twilio_ok()."""

    def respond(req):
        if req.method != "POST":
            return _error(req, 405, "method %s" % req.method, twilio_error(20004, "Method not allowed", 405))
        if req.basic_auth() != (sid, token):
            return _error(req, 401, "bad Basic credentials %r" % (req.basic_auth(),),
                          twilio_error(20003, "Authenticate", 401))
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _error(req, 400, "content-type %r" % req.headers.get("content-type"),
                          twilio_error(20001, "Invalid content type"))
        form = req.form()
        if not form.get("To"):
            return _error(req, 400, "no To", twilio_error(21604, "A 'To' phone number is required."))
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(req, 400, "no From", twilio_error(21603, "A 'From' phone number is required."))
        if not form.get("Body"):
            return _error(req, 400, "no Body", twilio_error(21602, "Message body is required."))
        req.kind = "sms"
        return Response(201, twilio_ok(sid, req))

    return respond


# -- FCM HTTP v1 ---------------------------------------------------------------------------------
_FCM_ERRORS = {  # errorCode: (HTTP status, google.rpc status, message)
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send messages'."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}


def fcm_error(error_code="UNREGISTERED", message=None):
    """(HTTP status, body) of a real FCM v1 error, e.g. 404 NOT_FOUND / UNREGISTERED."""
    status, rpc, default = _FCM_ERRORS[error_code]
    return status, {"error": {"code": status, "message": message or default, "status": rpc, "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]}}


def _google_error(status, rpc, message):
    return {"error": {"code": status, "message": message, "status": rpc}}


class FcmPeer(HttpPeer):
    """Plays Google's OAuth2 token endpoint (POST /token, RFC 7523 JWT bearer grant, RS256 JWT
    verified against the service account's key) and FCM HTTP v1 (POST
    /v1/projects/{project}/messages:send with the issued Bearer token). Register service accounts
    with make_service_account() or trust_service_account(path). Kinds: 'token', 'send'."""

    def __init__(self, certificate):
        super().__init__(tls=certificate)
        self.token_uri = self.url + "/token"
        self._accounts = {}  # client_email -> (public key, info)
        self._tokens = {}  # access token -> (expiry, client_email)
        self._failures = collections.deque()  # [error_code, headers, device token or None]

    def make_service_account(self, dir, project_id="tourbus-test"):
        """Writes a service-account file pointing at this peer's token_uri, trusts it, returns its path."""
        path = make_service_account(dir, self.token_uri, project_id)
        self.trust_service_account(path)
        return path

    def trust_service_account(self, path):
        with open(path) as f:
            info = json.load(f)
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        with self._cond:
            self._accounts[info["client_email"]] = (key.public_key(), info)

    def send_path(self, project_id):
        return "/v1/projects/%s/messages:send" % project_id

    def fail_send(self, error_code="UNREGISTERED", times=1, headers=None, token=None):
        """The next `times` sends (to `token` only, if given) answer like FCM's error_code
        (UNREGISTERED 404, INVALID_ARGUMENT 400, UNAVAILABLE 503, INTERNAL 500, QUOTA_EXCEEDED
        429, SENDER_ID_MISMATCH 403, THIRD_PARTY_AUTH_ERROR 401); headers e.g. {'Retry-After': '1'}."""
        fcm_error(error_code)  # validates the name
        with self._cond:
            for _ in range(times):
                self._failures.append([error_code, headers, token])

    def expire_tokens(self):
        """Invalidates every issued access token: the next send gets 401 UNAUTHENTICATED."""
        with self._cond:
            self._tokens.clear()

    @property
    def token_count(self):
        """How many access tokens were issued."""
        return sum(1 for r in self.requests if r.kind == "token" and r.status == 200)

    @property
    def sends(self):
        return [r for r in self.requests if r.kind == "send"]

    def wait_sends(self, n, timeout=WAIT, since=0):
        return self.wait_requests(n, timeout, where=lambda r: r.kind == "send", since=since)

    def check(self, req):
        if req.path == "/token":
            req.kind = "token"
            return self._check_token(req)
        m = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", req.path)
        if m:
            req.kind = "send"
            req.project = m.group(1)
            return self._check_send(req)
        return None

    def _check_token(self, req):
        bad = lambda why, code="invalid_grant": _error(req, 400, why, {"error": code, "error_description": why})
        if req.method != "POST":
            return _error(req, 405, "token endpoint needs POST")
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return bad("content-type %r, expected form-urlencoded" % req.headers.get("content-type"), "invalid_request")
        form = req.form()
        if form.get("grant_type") != JWT_BEARER:
            return bad("grant_type %r" % form.get("grant_type"), "unsupported_grant_type")
        assertion = form.get("assertion", "")
        try:
            header, claims, _, _ = jwt_decode(assertion)
            req.jwt_header, req.jwt_claims = header, claims
            with self._cond:
                account = self._accounts.get(claims.get("iss"))
            if account is None:
                raise CheckFailed("iss %r is not a trusted service account" % claims.get("iss"))
            public_key, info = account
            verify_jwt(assertion, public_key, "RS256")
            if "kid" in header and header["kid"] != info["private_key_id"]:
                raise CheckFailed("kid %r is not the private_key_id" % header["kid"])
            scopes = str(claims.get("scope", "")).split()
            if FCM_SCOPE not in scopes:
                raise CheckFailed("scope %r lacks %s" % (claims.get("scope"), FCM_SCOPE))
            if claims.get("aud") != info["token_uri"]:
                raise CheckFailed("aud %r is not the token_uri %r" % (claims.get("aud"), info["token_uri"]))
            iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
            if not isinstance(iat, int) or not isinstance(exp, int):
                raise CheckFailed("iat/exp must be integers: %r %r" % (iat, exp))
            if not now - 300 <= iat <= now + 60:
                raise CheckFailed("iat %d is not now (%d)" % (iat, now))
            if not iat < exp <= iat + 3600:
                raise CheckFailed("exp %d must be after iat %d and at most 3600 s later" % (exp, iat))
            if exp <= now:
                raise CheckFailed("expired assertion")
        except CheckFailed as e:
            return bad("invalid JWT assertion: %s" % e)
        req.account = claims["iss"]
        return None

    def _check_send(self, req):
        if req.method != "POST":
            return _error(req, 405, "send needs POST")
        token = req.bearer()
        with self._cond:
            entry = self._tokens.get(token)
        if entry is None or entry[0] <= time.time():
            return _error(req, 401, "Authorization %r is not a live issued Bearer token" % req.headers.get("authorization"),
                          _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                                        "Expected OAuth 2 access token, login cookie or other valid authentication credential."))
        with self._cond:
            project = self._accounts[entry[1]][1]["project_id"]
        if req.project != project:
            return _error(req, 403, "project %r, the token is for %r" % (req.project, project),
                          _google_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"))
        invalid = lambda why: _error(req, 400, why, _google_error(400, "INVALID_ARGUMENT", why))
        if not req.headers.get("content-type", "").startswith("application/json"):
            return invalid("content-type %r, expected application/json" % req.headers.get("content-type"))
        try:
            body = json.loads(req.body)
        except ValueError:
            return invalid("body is not JSON")
        msg = body.get("message") if isinstance(body, dict) else None
        if not isinstance(msg, dict):
            return invalid("no message object")
        req.message = msg
        targets = [k for k in ("token", "topic", "condition") if k in msg]
        if targets != ["token"] or not isinstance(msg["token"], str) or not msg["token"]:
            return invalid("message must have exactly one non-empty token (got %r)" % targets)
        if "notification" not in msg and "data" not in msg:
            return invalid("message has neither notification nor data")
        if "notification" in msg and not isinstance(msg["notification"], dict):
            return invalid("notification must be an object")
        if "data" in msg:
            data = msg["data"]
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                return invalid("data must be an object of string values: %r" % (data,))
        with self._cond:
            for i, (code, headers, only) in enumerate(self._failures):
                if only is None or only == msg["token"]:
                    del self._failures[i]
                    status, body = fcm_error(code)
                    return Response(status, body, headers)
        return None

    def answer(self, req):
        if req.kind == "token":
            token = "ya29.tb" + secrets.token_urlsafe(48)
            with self._cond:
                self._tokens[token] = (time.time() + 3600, req.account)
            req.access_token = token
            return Response(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
        if req.kind == "send":
            return Response(200, {"name": "projects/%s/messages/0:%d%%%s" % (
                req.project, int(time.time() * 1e6), secrets.token_hex(8))})
        return None


# -- APNs over HTTP/2 ----------------------------------------------------------------------------
_APNS_PUSH_TYPES = {"alert", "background", "voip", "complication", "fileprovider", "mdm", "location",
                    "liveactivity", "pushtotalk", "widgets", "controls"}
_APNS_REASONS = {400: "BadDeviceToken", 403: "InvalidProviderToken", 405: "MethodNotAllowed",
                 410: "Unregistered", 413: "PayloadTooLarge", 429: "TooManyRequests",
                 500: "InternalServerError", 503: "ServiceUnavailable"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class ApnsPeer(_Recorder):
    """Plays api.push.apple.com: HTTP/2 over TLS (ALPN h2 only), POST /3/device/{token} with
    token-based auth (authorization: bearer <ES256 JWT>, kid = key id, iss = team id, iat within
    the hour), apns-topic, apns-push-type, apns-priority, apns-expiration, apns-id and a JSON
    {"aps": ...} body of at most 4096 bytes. Answers 200 with apns-id, or Apple's JSON
    {"reason": ...} errors. Register keys with make_key(dir) or trust_key(p8, key_id, team_id).
    Requests record headers (pseudo-headers included), jwt, jwt_header, jwt_claims, device_token."""

    def __init__(self, certificate):
        super().__init__()
        self.certificate = certificate
        self._ctx = certificate.server_context(alpn=["h2"])
        self._keys = {}  # key id -> (public key, team id)
        self._scripted = collections.deque()  # [status, reason, headers, token or None]
        self._token_states = {}  # device token -> (status, reason)
        self._closing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self._wake_r, self._wake_w = socket.socketpair()
        self._conn_ids = itertools.count(1)
        self._threads = []
        self._thread = threading.Thread(target=self._accept_loop, name="ApnsPeer-%d" % self.port, daemon=True)
        self._thread.start()

    def make_key(self, dir):
        """make_apns_key(dir), trusted by this peer: returns (p8_path, key_id, team_id)."""
        path, key_id, team_id = make_apns_key(dir)
        self.trust_key(path, key_id, team_id)
        return path, key_id, team_id

    def trust_key(self, p8_path, key_id, team_id):
        with self._cond:
            self._keys[key_id] = (_load_private_key(p8_path).public_key(), team_id)

    def respond(self, status, reason=None, times=1, token=None, headers=None):
        """The next `times` well-formed pushes (to `token` only, if given) get this error, e.g.
        respond(410) -> {"reason": "Unregistered", "timestamp": ms}, respond(429), respond(500),
        respond(400, "BadDeviceToken"). status may be DROP (connection closed)."""
        with self._cond:
            for _ in range(times):
                self._scripted.append([status, reason or _APNS_REASONS.get(status, "InternalServerError"), headers, token])

    def unregister(self, token):
        """From now on pushes to token answer 410 Unregistered."""
        with self._cond:
            self._token_states[token] = (410, "Unregistered")

    def reject_token(self, token):
        """From now on pushes to token answer 400 BadDeviceToken."""
        with self._cond:
            self._token_states[token] = (400, "BadDeviceToken")

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._wake_w.send(b"x")
        self._thread.join(WAIT)
        self._listener.close()
        self._shutdown_connections()
        for t in list(self._threads):
            t.join(WAIT)
        self._wake_r.close()
        self._wake_w.close()

    def _accept_loop(self):
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._closing:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        sock, addr = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    sock.setblocking(True)
                    self._track(sock.fileno())
                    t = threading.Thread(target=self._serve, args=(sock, addr), daemon=True)
                    self._threads = [x for x in self._threads if x.is_alive()] + [t]
                    t.start()
        finally:
            sel.close()

    def _conn_error(self, addr, message):
        if not self._closing:
            with self._cond:
                self.connection_errors.append((addr, message))
                self._cond.notify_all()

    def _serve(self, raw, addr):
        fd = raw.fileno()
        conn_id = next(self._conn_ids)
        sock = raw
        try:
            raw.settimeout(WAIT)
            sock = self._ctx.wrap_socket(raw, server_side=True)
            sock.settimeout(None)
            if sock.selected_alpn_protocol() != "h2":
                self._conn_error(addr, "client did not negotiate ALPN h2 (got %r)" % sock.selected_alpn_protocol())
                return
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            streams = {}
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    self._conn_error(addr, "HTTP/2 protocol error: %s" % e)
                    sock.sendall(conn.data_to_send())
                    return
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = (ev.headers, bytearray())
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id][1].extend(ev.data)
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        headers, body = streams.pop(ev.stream_id)
                        if not self._answer(conn, ev.stream_id, headers, bytes(body), conn_id):
                            sock.sendall(conn.data_to_send())
                            return
                    elif isinstance(ev, h2.events.StreamReset):
                        streams.pop(ev.stream_id, None)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        sock.sendall(conn.data_to_send())
                        return
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
        except (OSError, ValueError, h2.exceptions.H2Error) as e:
            self._conn_error(addr, "%s: %s" % (type(e).__name__, e))
        finally:
            self._untrack(fd)
            try:
                sock.close()
            except OSError:
                pass

    def _answer(self, conn, stream_id, headers, body, conn_id):
        """Records and answers one request; False when the connection must be dropped."""
        h = Headers(headers)
        req = Request(h.get(":method", ""), h.get(":path", ""), h, body, "HTTP/2", conn_id)
        req.kind = "apns"
        try:
            status, reason = self._check(req)
        except Exception as e:
            req.error = "peer failed handling the request: %s: %s" % (type(e).__name__, e)
            status, reason = 500, "InternalServerError"
        apns_id = h.get("apns-id") if _UUID.fullmatch(h.get("apns-id", "")) else str(uuid.uuid4())
        extra = []
        if isinstance(reason, tuple):  # (reason, scripted headers)
            reason, extra = reason
        req.status = status
        req.reason = reason
        self._record(req)
        if status == DROP:
            conn.close_connection()
            return False
        out = [(":status", str(status)), ("apns-id", apns_id)] + [(str(k).lower(), str(v)) for k, v in extra]
        if status == 200:
            conn.send_headers(stream_id, out, end_stream=True)
        else:
            payload = {"reason": reason}
            if status == 410:
                payload["timestamp"] = int(time.time() * 1000)
            data = json.dumps(payload).encode()
            conn.send_headers(stream_id, out + [("content-type", "application/json"),
                                                ("content-length", str(len(data)))])
            conn.send_data(stream_id, data, end_stream=True)
        return True

    def _check(self, req):
        """(status, reason) for a request; sets req.error on protocol violations."""
        def bad(status, reason, why):
            req.error = why
            return status, reason

        h = req.headers
        if req.method != "POST":
            return bad(405, "MethodNotAllowed", "method %r" % req.method)
        m = re.fullmatch(r"/3/device/([^/]+)", req.path)
        if not m:
            return bad(404, "BadPath", "path %r is not /3/device/<token>" % req.path)
        req.device_token = m.group(1)
        auth = h.get("authorization")
        if not auth:
            return bad(403, "MissingProviderToken", "no authorization header")
        scheme, _, jwt = auth.partition(" ")
        if scheme.lower() != "bearer" or not jwt.strip():
            return bad(403, "InvalidProviderToken", "authorization %r is not 'bearer <JWT>'" % auth)
        req.jwt = jwt = jwt.strip()
        try:
            header, claims, _, _ = jwt_decode(jwt)
            req.jwt_header, req.jwt_claims = header, claims
            with self._cond:
                key = self._keys.get(header.get("kid"))
            if key is None:
                raise CheckFailed("kid %r is not a trusted key id" % header.get("kid"))
            verify_jwt(jwt, key[0], "ES256")
            if claims.get("iss") != key[1]:
                raise CheckFailed("iss %r is not the team id %r" % (claims.get("iss"), key[1]))
            iat = claims.get("iat")
            if not isinstance(iat, int):
                raise CheckFailed("iat %r is not an integer" % (iat,))
        except CheckFailed as e:
            return bad(403, "InvalidProviderToken", str(e))
        now = time.time()
        if iat < now - 3600:
            return bad(403, "ExpiredProviderToken", "iat %d is over an hour old" % iat)
        if iat > now + 60:
            return bad(403, "InvalidProviderToken", "iat %d is in the future" % iat)
        for name in h:
            if not name.startswith(":") and len(h.get_all(name)) > 1:
                return bad(400, "DuplicateHeaders", "header %s repeated" % name)
        if not h.get("apns-topic"):
            return bad(400, "MissingTopic", "no apns-topic (required with token-based auth)")
        push_type = h.get("apns-push-type")
        if push_type is not None and push_type not in _APNS_PUSH_TYPES:
            return bad(400, "InvalidPushType", "apns-push-type %r" % push_type)
        if h.get("apns-priority") not in (None, "1", "5", "10"):
            return bad(400, "BadPriority", "apns-priority %r" % h.get("apns-priority"))
        if h.get("apns-expiration") is not None and not re.fullmatch(r"\d+", h["apns-expiration"]):
            return bad(400, "BadExpirationDate", "apns-expiration %r" % h["apns-expiration"])
        if h.get("apns-id") is not None and not _UUID.fullmatch(h["apns-id"]):
            return bad(400, "BadMessageId", "apns-id %r is not a UUID" % h["apns-id"])
        if not req.body:
            return bad(400, "PayloadEmpty", "empty body")
        if len(req.body) > (5120 if push_type == "voip" else 4096):
            return bad(413, "PayloadTooLarge", "body is %d bytes" % len(req.body))
        try:
            payload = json.loads(req.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            # Apple has no documented reason for this; the peer's own, so tests see it clearly.
            return bad(400, "BadPayload", "body is not a JSON object with an 'aps' object: %r" % req.body[:200])
        req.payload = payload
        with self._cond:
            state = self._token_states.get(req.device_token)
            if state:
                return state
            for i, (status, reason, headers, only) in enumerate(self._scripted):
                if only is None or only == req.device_token:
                    del self._scripted[i]
                    return status, (reason, list((headers or {}).items()))
        return 200, None


# -- SMTP ----------------------------------------------------------------------------------------
class Mail:
    """One accepted SMTP transaction: envelope, raw bytes and the parsed message
    (email.message.EmailMessage with policy.default)."""

    def __init__(self, mail_from, rcpt_tos, raw, mail_options, auth_user, tls, peer):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.raw = raw
        self.mail_options = list(mail_options)
        self.auth_user = auth_user  # the authenticated user name, or None
        self.tls = tls  # whether the session was encrypted (STARTTLS or SMTPS)
        self.peer = peer
        self.message = email.message_from_bytes(raw, policy=email.policy.default)
        self.time = time.time()

    def text(self):
        """The text/plain body, decoded, with the wire's CRLF line ends as \\n; or None."""
        return self._part("plain")

    def html(self):
        """The text/html body like text(), or None."""
        return self._part("html")

    def _part(self, subtype):
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content().replace("\r\n", "\n") if part is not None else None

    def __repr__(self):
        return "<Mail from=%r to=%r subject=%r>" % (self.mail_from, self.rcpt_tos, self.message.get("Subject"))


class _SmtpHandler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fail = self.peer._take_failure("rcpt", address)
        if fail:
            return fail
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        fail = self.peer._take_failure("data", envelope.mail_from)
        if fail:
            return fail
        tls = server.transport.get_extra_info("ssl_object") is not None
        mail = Mail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content, envelope.mail_options,
                    session.auth_data if session.authenticated else None, tls, session.peer)
        self.peer._record(mail)
        return "250 2.0.0 OK: queued as %s" % secrets.token_hex(6).upper()


def _smtp_controller_class():
    from aiosmtpd.controller import BaseThreadedController
    from aiosmtpd.smtp import SMTP

    class Controller(BaseThreadedController):
        """aiosmtpd's threaded controller on an already bound socket (so port 0 works)."""

        def __init__(self, handler, sock, **kwargs):
            super().__init__(handler, **kwargs)
            self._sock = sock

        def factory(self):
            with warnings.catch_warnings():  # "AUTH without TLS" is what the plain mode wants
                warnings.simplefilter("ignore")
                return SMTP(self.handler, **self.SMTP_kwargs)

        def _create_server(self):
            return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

        def _trigger_server(self):
            with socket.create_connection(self._sock.getsockname(), WAIT) as s:
                if self.ssl_context:
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    with ctx.wrap_socket(s) as t:
                        t.recv(1024)
                else:
                    s.recv(1024)

    return Controller


class SmtpPeer(_Recorder):
    """An SMTP server (aiosmtpd) on loopback recording accepted Mail in order.

    auth=(user, password): AUTH (PLAIN, LOGIN) is required before MAIL; bad credentials get 535.
    tls='starttls': STARTTLS offered and required before AUTH/MAIL (530 otherwise);
    tls='smtps': implicit TLS on connect. certificate: a Certificate (one is made if omitted).
    `auth_attempts` lists (mechanism, user, ok); `rejections` lists scripted refusals."""

    def __init__(self, auth=None, tls=None, certificate=None):
        super().__init__()
        from aiosmtpd.smtp import AuthResult
        if tls not in (None, "starttls", "smtps"):
            raise ValueError("tls must be None, 'starttls' or 'smtps'")
        self._own_dir = None
        if tls and certificate is None:
            self._own_dir = tempfile.mkdtemp(prefix="tourbus-smtp-")
            certificate = Certificate(self._own_dir)
        self.certificate = certificate
        self.auth = auth
        self.tls = tls
        self.auth_attempts = []
        self.rejections = []
        self._failures = collections.deque()  # [stage, "code text"]
        self._closing = False
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's chatter

        def authenticator(server, session, envelope, mechanism, auth_data):
            user = auth_data.login.decode("utf-8", "replace") if hasattr(auth_data, "login") else None
            password = auth_data.password.decode("utf-8", "replace") if hasattr(auth_data, "password") else None
            ok = (user, password) == tuple(self.auth)
            with self._cond:
                self.auth_attempts.append((mechanism, user, ok))
            return AuthResult(success=ok, handled=False, auth_data=user)

        ctx = certificate.server_context() if tls else None
        kwargs = dict(server_hostname="localhost", ready_timeout=WAIT, decode_data=False, enable_SMTPUTF8=True)
        if auth:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=(tls == "starttls"))
        if tls == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.host = "127.0.0.1"
        self.url = "%s://127.0.0.1:%d" % ("smtps" if tls == "smtps" else "smtp", self.port)
        self._controller = _smtp_controller_class()(_SmtpHandler(self), sock,
                                                    ssl_context=ctx if tls == "smtps" else None, **kwargs)
        self._controller.start()

    @property
    def messages(self):
        return self.requests

    def wait_messages(self, n, timeout=WAIT, where=None, since=0):
        return self.wait_requests(n, timeout, where, since)

    def fail_next(self, code, text=None, times=1, at="rcpt"):
        """The next `times` RCPT commands (at='rcpt') or DATA transactions (at='data') are
        refused with `code text`, e.g. fail_next(451) (temporary) or fail_next(550) (permanent)."""
        if at not in ("rcpt", "data"):
            raise ValueError("at must be 'rcpt' or 'data'")
        text = text or ("4.3.0 Temporary failure, try again later" if 400 <= code < 500
                        else "5.1.1 Mailbox unavailable" if at == "rcpt" else "5.6.0 Message rejected")
        with self._cond:
            for _ in range(times):
                self._failures.append([at, "%d %s" % (code, text)])

    def _take_failure(self, stage, what):
        with self._cond:
            for i, (at, reply) in enumerate(self._failures):
                if at == stage:
                    del self._failures[i]
                    self.rejections.append((stage, what, reply))
                    self._cond.notify_all()
                    return reply
        return None

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._controller.stop()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)


# -- Web Push ------------------------------------------------------------------------------------
def _hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class PushSubscriber:
    """A browser's side of a Web Push subscription: a P-256 key pair and a 16-byte auth secret
    (p256dh / auth as unpadded base64url), decrypting RFC 8291 aes128gcm messages."""

    def __init__(self, endpoint=None, private_key=None, auth_secret=None):
        self.endpoint = endpoint
        self._key = private_key or ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = auth_secret or secrets.token_bytes(16)
        self.public_bytes = _p256_point(self._key.public_key())
        self.p256dh = b64url(self.public_bytes)
        self.auth = b64url(self.auth_secret)

    @classmethod
    def from_keys(cls, private_key_b64, auth_b64, endpoint=None):
        """A subscriber from a raw 32-byte private scalar and auth secret (base64url)."""
        d = int.from_bytes(b64url_decode(private_key_b64), "big")
        return cls(endpoint, ec.derive_private_key(d, ec.SECP256R1()), b64url_decode(auth_b64))

    def subscription(self):
        """The PushSubscription JSON a browser hands to the application."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def decrypt(self, body):
        """RFC 8291 + RFC 8188 aes128gcm: returns the plaintext or raises CheckFailed."""
        body = bytes(body)
        if len(body) < 21:
            raise CheckFailed("aes128gcm body too short for its header (%d bytes)" % len(body))
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        if idlen != 65:
            raise CheckFailed("keyid length %d, expected 65 (the sender's uncompressed P-256 key)" % idlen)
        as_public_bytes = body[21:86]
        if len(as_public_bytes) != 65 or as_public_bytes[0] != 4:
            raise CheckFailed("keyid is not an uncompressed P-256 point")
        if rs < 18:
            raise CheckFailed("record size %d < 18" % rs)
        ciphertext = body[86:]
        if not 17 <= len(ciphertext) <= rs:
            raise CheckFailed("a push message is one record of 17..rs(%d) bytes, got %d" % (rs, len(ciphertext)))
        try:
            as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_bytes)
        except ValueError:
            raise CheckFailed("keyid is not a point on P-256")
        ecdh_secret = self._key.exchange(ec.ECDH(), as_public)
        key_info = b"WebPush: info\x00" + self.public_bytes + as_public_bytes
        ikm = _hkdf(self.auth_secret, ecdh_secret, key_info, 32)
        cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        try:
            record = AESGCM(cek).decrypt(nonce, ciphertext, None)
        except Exception:
            raise CheckFailed("AES-128-GCM authentication failed (wrong keys, salt or derivation)")
        stripped = record.rstrip(b"\x00")
        if not stripped or stripped[-1] != 2:
            raise CheckFailed("last record lacks the 0x02 padding delimiter")
        return stripped[:-1]


def webpush_encrypt(plaintext, p256dh, auth, as_private_key=None, salt=None, rs=4096):
    """The application server's side of RFC 8291 (for self-checks and tests of the peer):
    encrypts plaintext for a subscription's p256dh/auth (base64url) as one aes128gcm record."""
    as_key = as_private_key or ec.generate_private_key(ec.SECP256R1())
    salt = salt or secrets.token_bytes(16)
    ua_public_bytes = b64url_decode(p256dh)
    ua_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public_bytes)
    as_public_bytes = _p256_point(as_key.public_key())
    ikm = _hkdf(b64url_decode(auth), as_key.exchange(ec.ECDH(), ua_public),
                b"WebPush: info\x00" + ua_public_bytes + as_public_bytes, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    header = salt + rs.to_bytes(4, "big") + bytes([len(as_public_bytes)]) + as_public_bytes
    return header + AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)


def _origin(url):
    u = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(u.scheme.lower())
    host = u.hostname if ":" not in (u.hostname or "") else "[%s]" % u.hostname
    return "%s://%s%s" % (u.scheme.lower(), host, "" if u.port in (None, default) else ":%d" % u.port)


def verify_vapid(authorization, endpoint, public_key=None):
    """Checks an RFC 8292 `vapid t=<JWT>, k=<key>` Authorization header for a push to endpoint:
    ES256 signature by k, aud = the endpoint's origin, exp in the future and at most 24 h away,
    sub a mailto: or https: URI; k must equal public_key (base64url) when given. Returns the
    claims; raises CheckFailed."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    if scheme.lower() != "vapid":
        raise CheckFailed("Authorization scheme %r, expected 'vapid'" % scheme)
    params = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise CheckFailed("malformed vapid parameter %r" % part)
        params[name.strip().lower()] = value.strip()
    if "t" not in params or "k" not in params:
        raise CheckFailed("vapid needs t= and k= (got %s)" % sorted(params))
    key_bytes = b64url_decode(params["k"])
    if len(key_bytes) != 65 or key_bytes[0] != 4:
        raise CheckFailed("k is not an uncompressed P-256 public key (%d bytes)" % len(key_bytes))
    if public_key is not None and key_bytes != b64url_decode(public_key):
        raise CheckFailed("k is not the expected application server key")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
    except ValueError:
        raise CheckFailed("k is not a point on P-256")
    _, claims = verify_jwt(params["t"], key, "ES256")
    if claims.get("aud") != _origin(endpoint):
        raise CheckFailed("aud %r is not the endpoint origin %r" % (claims.get("aud"), _origin(endpoint)))
    exp, now = claims.get("exp"), time.time()
    if not isinstance(exp, int) or exp <= now:
        raise CheckFailed("exp %r is not a future integer time" % (exp,))
    if exp - now > 86400:
        raise CheckFailed("exp is %d s away, more than 24 h" % (exp - now))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise CheckFailed("sub %r is not a mailto: or https: URI" % (sub,))
    return claims


class WebPushPeer(HttpPeer):
    """A push service: POST /push/<id> for subscriptions made with subscribe(). Checks TTL,
    Urgency, Topic, Content-Encoding: aes128gcm, the VAPID Authorization (against
    vapid_public_key when given), size <= 4096, and decrypts with the subscriber's keys
    (request.plaintext, request.vapid claims, request.subscription id). Answers 201 with a
    Location, or 400/401/404/413 for malformed pushes; script 404/410/413/429/500 with
    respond(peer.path(id), status)."""

    def __init__(self, certificate, vapid_public_key=None):
        super().__init__(tls=certificate)
        self.vapid_public_key = vapid_public_key
        self._subscribers = {}

    def path(self, id):
        return "/push/" + id

    def subscribe(self, id=None):
        """A new PushSubscriber whose endpoint is on this peer."""
        id = id or secrets.token_urlsafe(12)
        sub = PushSubscriber(endpoint=self.url + self.path(id))
        with self._cond:
            self._subscribers[id] = sub
        return sub

    @property
    def pushes(self):
        return [r for r in self.requests if r.kind == "push"]

    def check(self, req):
        m = re.fullmatch(r"/push/([^/]+)", req.path)
        if not m:
            return None
        req.kind = "push"
        req.subscription = m.group(1)
        req.plaintext = None
        req.vapid = None
        h = req.headers
        if req.method != "POST":
            return _error(req, 405, "push needs POST")
        with self._cond:
            sub = self._subscribers.get(req.subscription)
        if sub is None:
            return _error(req, 404, "no subscription %r (make one with subscribe())" % req.subscription)
        if not re.fullmatch(r"\d+", h.get("ttl", "")):
            return _error(req, 400, "TTL header %r missing or not a non-negative integer" % h.get("ttl"))
        if h.get("urgency", "normal") not in ("very-low", "low", "normal", "high"):
            return _error(req, 400, "Urgency %r" % h.get("urgency"))
        if "topic" in h and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", h["topic"]):
            return _error(req, 400, "Topic %r is not 1..32 base64url characters" % h["topic"])
        try:
            req.vapid = verify_vapid(h.get("authorization"), sub.endpoint, self.vapid_public_key)
        except CheckFailed as e:
            return _error(req, 401, "VAPID: %s" % e)
        if len(req.body) > 4096:
            return _error(req, 413, "body is %d bytes, more than 4096" % len(req.body))
        if req.body:
            if h.get("content-encoding") != "aes128gcm":
                return _error(req, 400, "Content-Encoding %r, expected aes128gcm" % h.get("content-encoding"))
            try:
                req.plaintext = sub.decrypt(req.body)
            except CheckFailed as e:
                return _error(req, 400, "decryption: %s" % e)
        else:
            req.plaintext = b""
        return None

    def answer(self, req):
        if req.kind == "push":
            return Response(201, None, {"Location": self.url + "/message/" + str(uuid.uuid4())})
        return None


# -- self-check ----------------------------------------------------------------------------------
RFC8291 = {  # RFC 8291 section 5 / appendix A
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "ua_public": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "as_private": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
    "auth": "BTBZMqHH6r4Tts7J_aSIgg",
    "salt": "DGv6ra1nlYgDCS1FRnbzlw",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
            "AC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    "plaintext": b"When I grow up, I want to be a watermelon",
}


def _selfcheck():
    import smtplib
    import subprocess
    import urllib.error
    import urllib.request
    from email.message import EmailMessage

    work = tempfile.mkdtemp(prefix="tourbus-peers-")
    cleanups = []
    passed = []

    def ok(what):
        passed.append(what)
        print("ok %2d - %s" % (len(passed), what), flush=True)

    def expect(cond, what, detail=""):
        if not cond:
            raise AssertionError("%s %s" % (what, detail))

    def fetch(method, url, body=None, headers=None, context=None):
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        r = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(r, context=context, timeout=WAIT) as res:
                return res.status, res.headers, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def curl(*args):
        out = os.path.join(work, "curl-body")
        r = subprocess.run(["curl", "-sS", "-o", out, "-D", "-", "-w", "\n%{http_version} %{http_code}"] + list(args),
                           capture_output=True, text=True, timeout=WAIT)
        expect(r.returncode == 0, "curl failed:", r.stderr)
        head, _, tail = r.stdout.rpartition("\n")
        version, code = tail.split()
        with open(out, "rb") as f:
            return version, int(code), head, f.read()

    def peer(p):
        cleanups.append(p.close)
        return p

    try:
        cert = Certificate(work)
        r = subprocess.run(["openssl", "x509", "-in", cert.cert, "-noout", "-text"], capture_output=True, text=True)
        expect("IP Address:127.0.0.1" in r.stdout and "DNS:localhost" in r.stdout and "prime256v1" in r.stdout,
               "certificate SANs/curve", r.stdout)
        ok("Certificate: self-signed P-256 for localhost/127.0.0.1 (openssl x509)")

        expect(sign_hmac_sha256("Jefe", "what do ya want for nothing?") ==
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "HMAC RFC 4231 case 2")
        ok("sign_hmac_sha256 matches RFC 4231 test case 2")

        # HTTP/1.1, plain: defaults, queue, route, query, headers, form, wait deadline.
        hp = peer(HttpPeer())
        hp.respond("/hook", 503, body={"retry": True}, headers={"Retry-After": "2"})
        st, hd, body = fetch("POST", hp.url + "/hook?a=1&b=x%20y", {"k": "v"}, {"Content-Type": "application/json", "X-Sig": "abc"})
        expect(st == 503 and hd["Retry-After"] == "2" and json.loads(body) == {"retry": True}, "scripted 503", (st, body))
        st, _, body = fetch("POST", hp.url + "/hook", b"To=%2B1555&Body=hi+there", {"Content-Type": "application/x-www-form-urlencoded"})
        expect(st == 200 and json.loads(body) == {}, "default 200 {}", (st, body))
        hp.set_default("/hook", 204)
        st, _, _ = fetch("GET", hp.url + "/hook")
        reqs = hp.wait_requests(3, where="/hook")
        expect(st == 204 and reqs[0].query == {"a": "1", "b": "x y"} and reqs[0].json() == {"k": "v"} and
               reqs[0].headers["x-SIG"] == "abc" and reqs[1].form() == {"To": "+1555", "Body": "hi there"} and
               [r.status for r in reqs] == [503, 200, 204], "recorded", reqs)
        try:
            hp.wait_requests(4, timeout=0.2)
            raise RuntimeError("wait_requests did not fail")
        except AssertionError as e:
            expect("expected 4 request(s)" in str(e), "wait message", e)
        ok("HttpPeer: scripted queue, set_default, default 200 {}, query/headers/json/form, wait_requests deadline")

        # HTTPS + Twilio via curl (HTTP/1.1 over TLS) and urllib.
        tw = peer(HttpPeer(tls=cert))
        sid, token = "AC" + "0" * 32, "secret-token"
        tw.route(twilio_path(sid), twilio_responder(sid, token))
        v, code, _, body = curl("--cacert", cert.cert, "-u", "%s:%s" % (sid, token), "--data-urlencode", "To=+15550001",
                                "--data-urlencode", "From=+15550002", "--data-urlencode", "Body=Tour starts at 9",
                                tw.url + twilio_path(sid))
        msg = json.loads(body)
        expect(v == "1.1" and code == 201 and msg["status"] == "queued" and msg["sid"].startswith("SM") and
               msg["to"] == "+15550001" and msg["body"] == "Tour starts at 9", "twilio 201", (v, code, body))
        st, _, body = fetch("POST", tw.url + twilio_path(sid), b"To=1&From=2&Body=x",
                            {"Content-Type": "application/x-www-form-urlencoded",
                             "Authorization": "Basic " + base64.b64encode(b"%s:wrong" % sid.encode()).decode()},
                            context=cert.client_context())
        expect(st == 401 and json.loads(body)["code"] == 20003, "twilio 401", (st, body))
        tw.respond(twilio_path(sid), 429, body=twilio_error(20429, "Too Many Requests", 429))
        v, code, _, _ = curl("--cacert", cert.cert, "-u", "%s:%s" % (sid, token), "-d", "To=1", tw.url + twilio_path(sid))
        reqs = tw.wait_requests(3)
        expect(code == 429 and reqs[0].basic_auth() == (sid, token) and reqs[0].version == "HTTP/1.1" and
               reqs[1].error and not reqs[2].error and len(tw.errors()) == 1, "twilio records", reqs)
        ok("HttpPeer(tls) as Twilio: curl 201 SM.../queued, bad Basic auth 401 (recorded as error), scripted 429")

        # FCM: token endpoint + send.
        fcm = peer(FcmPeer(cert))
        sa_path = fcm.make_service_account(work, "tourbus-test")
        with open(sa_path) as f:
            sa = json.load(f)
        expect(sa["type"] == "service_account" and "BEGIN PRIVATE KEY" in sa["private_key"], "service account file")
        ctx = cert.client_context()
        now = int(time.time())
        claims = {"iss": sa["client_email"], "scope": FCM_SCOPE, "aud": sa["token_uri"], "iat": now, "exp": now + 3600}

        def get_token(c, key=sa["private_key"]):
            form = urllib.parse.urlencode({"grant_type": JWT_BEARER, "assertion": sign_jwt(key, c, {"kid": sa["private_key_id"]})})
            return fetch("POST", sa["token_uri"], form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}, ctx)

        st, _, body = get_token(claims)
        tok = json.loads(body)
        expect(st == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] > 3000, "token", (st, body))
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        st1, _, b1 = get_token(claims, other)
        st2, _, b2 = get_token(dict(claims, aud="https://oauth2.googleapis.com/token"))
        st3, _, b3 = get_token(dict(claims, exp=now + 7200))
        expect((st1, st2, st3) == (400, 400, 400) and json.loads(b1)["error"] == "invalid_grant" and
               "signature" in json.loads(b1)["error_description"] and "aud" in json.loads(b2)["error_description"],
               "token rejections", (b1, b2, b3))
        send_url = fcm.url + fcm.send_path("tourbus-test")
        auth = {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json; charset=UTF-8"}
        message = {"message": {"token": "dev-1", "notification": {"title": "Hi", "body": "Bus leaves"}, "data": {"tour": "42"}}}
        st, _, body = fetch("POST", send_url, message, auth, ctx)
        expect(st == 200 and json.loads(body)["name"].startswith("projects/tourbus-test/messages/"), "send", (st, body))
        results = []
        for code in ("UNREGISTERED", "INVALID_ARGUMENT", "UNAVAILABLE"):
            fcm.fail_send(code, headers={"Retry-After": "1"} if code == "UNAVAILABLE" else None)
            st, _, body = fetch("POST", send_url, message, auth, ctx)
            e = json.loads(body)["error"]
            results.append((st, e["status"], e["details"][0]["errorCode"]))
        expect(results == [(404, "NOT_FOUND", "UNREGISTERED"), (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
                           (503, "UNAVAILABLE", "UNAVAILABLE")], "fcm errors", results)
        st_bad, _, _ = fetch("POST", send_url, {"message": {"token": "d", "data": {"n": 1}}}, auth, ctx)
        fcm.expire_tokens()
        st_exp, _, body = fetch("POST", send_url, message, auth, ctx)
        sends = fcm.wait_sends(6)
        expect(st_bad == 400 and st_exp == 401 and json.loads(body)["error"]["status"] == "UNAUTHENTICATED" and
               fcm.token_count == 1 and sends[0].message["data"] == {"tour": "42"} and
               len(fcm.errors()) == 5, "fcm records", (st_bad, st_exp, fcm.errors()))
        ok("FcmPeer: RS256 JWT-bearer token (bad signature/aud/exp -> 400 invalid_grant), send 200, "
           "scripted 404 UNREGISTERED / 400 INVALID_ARGUMENT / 503 UNAVAILABLE, non-string data 400, expired token 401")

        # APNs over HTTP/2 with curl.
        apns = peer(ApnsPeer(cert))
        p8, key_id, team_id = apns.make_key(work)
        with open(p8) as f:
            expect("BEGIN PRIVATE KEY" in f.read(), "p8 is PKCS#8")
        jwt = sign_jwt(_load_private_key(p8), {"iss": team_id, "iat": int(time.time())}, {"kid": key_id})
        base = ["--http2", "--cacert", cert.cert, "-H", "authorization: bearer " + jwt, "-H", "apns-topic: com.example.tourbus",
                "-H", "apns-push-type: alert", "-H", "apns-priority: 10", "-H", "apns-expiration: 0"]
        payload = json.dumps({"aps": {"alert": {"title": "Hi", "body": "Bus leaves"}, "sound": "default"}})
        v, code, head, body = curl(*base, "-H", "apns-id: 123e4567-e89b-12d3-a456-426614174000", "-d", payload,
                                   apns.url + "/3/device/abc")
        r = apns.wait_requests(1)[0]
        expect(v == "2" and code == 200 and "apns-id: 123e4567-e89b-12d3-a456-426614174000" in head and
               r.version == "HTTP/2" and r.headers[":method"] == "POST" and r.headers[":scheme"] == "https" and
               r.device_token == "abc" and r.jwt_header["kid"] == key_id and r.jwt_claims["iss"] == team_id and
               r.payload["aps"]["sound"] == "default" and r.headers["apns-topic"] == "com.example.tourbus" and not r.error,
               "apns 200", (v, code, head, r, r.error))
        v, code, _, body = curl("--http2", "--cacert", cert.cert, "-H", "authorization: bearer " + jwt,
                                apns.url + "/3/device/abc", "-d", "{}")
        expect(v == "2" and code == 400 and json.loads(body) == {"reason": "MissingTopic"}, "missing topic", body)
        apns.respond(410)
        apns.respond(400, "BadDeviceToken")
        apns.respond(429)
        apns.respond(500)
        m = apns.mark()
        url = apns.url + "/3/device/abc"
        r = subprocess.run(["curl", "-sS"] + base + ["-d", payload, "-w", "%{http_code} %{num_connects}\n",
                                                     url, url, url, url, url], capture_output=True, text=True, timeout=WAIT)
        reqs = apns.wait_requests(5, since=m)
        bodies = [json.loads(x) for x in re.findall(r"\{[^{}]*\}", r.stdout)]
        expect([q.status for q in reqs] == [410, 400, 429, 500, 200] and [b["reason"] for b in bodies] ==
               ["Unregistered", "BadDeviceToken", "TooManyRequests", "InternalServerError"] and
               isinstance(bodies[0]["timestamp"], int) and len({q.connection for q in reqs}) == 1, "apns scripted",
               (r.stdout, r.stderr, reqs))
        der = _load_private_key(p8).sign(jwt.rpartition(".")[0].encode(), ec.ECDSA(hashes.SHA256()))
        v, code, _, body = curl(*(base[:4] + ["authorization: bearer " + jwt.rpartition(".")[0] + "." + b64url(der)] + base[5:]),
                                "-d", payload, url)
        old = sign_jwt(_load_private_key(p8), {"iss": team_id, "iat": int(time.time()) - 4000}, {"kid": key_id})
        v2, code2, _, body2 = curl(*(base[:4] + ["authorization: bearer " + old] + base[5:]), "-d", payload, url)
        expect(code == 403 and json.loads(body)["reason"] == "InvalidProviderToken" and "DER" in apns.requests[-2].error and
               code2 == 403 and json.loads(body2)["reason"] == "ExpiredProviderToken", "apns jwt rejections", (body, body2))
        apns.unregister("gone")
        v, code, _, body = curl(*base, "-d", payload, apns.url + "/3/device/gone")
        r = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", cert.cert, url], capture_output=True, text=True, timeout=WAIT)
        expect(code == 410 and r.returncode != 0 and apns.connection_errors and "ALPN" in apns.connection_errors[-1][1],
               "unregister / http1.1 refused", (body, r.stderr, apns.connection_errors))
        ok("ApnsPeer: curl --http2 (ALPN h2) 200 + apns-id, pseudo-headers and ES256 JWT recorded, 400 MissingTopic, "
           "scripted 410/400/429/500 on one connection, DER signature 403, stale iat 403, unregister 410, HTTP/1.1 refused")

        # SMTP.
        def mail(to=("a@example.com",)):
            m = EmailMessage()
            m["From"], m["To"], m["Subject"] = "Tourbus <bus@example.com>", ", ".join(to), "Tour ✓ reminder"
            m.set_content("Your tour starts at 9.\n")
            return m

        sp = peer(SmtpPeer())
        with smtplib.SMTP(sp.host, sp.port, timeout=WAIT) as s:
            s.send_message(mail(("a@example.com", "b@example.com")))
            sp.fail_next(451)
            try:
                s.send_message(mail())
                raise RuntimeError("451 not raised")
            except smtplib.SMTPRecipientsRefused as e:
                expect(e.recipients["a@example.com"][0] == 451, "451", e.recipients)
            sp.fail_next(550, at="data")
            try:
                s.send_message(mail())
                raise RuntimeError("550 not raised")
            except smtplib.SMTPDataError as e:
                expect(e.smtp_code == 550, "550", e)
        got = sp.wait_messages(1)
        expect(len(sp.messages) == 1 and got[0].rcpt_tos == ["a@example.com", "b@example.com"] and
               got[0].message["Subject"] == "Tour ✓ reminder" and got[0].text() == "Your tour starts at 9.\n" and
               got[0].mail_from == "bus@example.com" and len(sp.rejections) == 2, "smtp plain", (got, sp.rejections))
        ok("SmtpPeer: plain delivery recorded and parsed (2 recipients, UTF-8 subject), fail_next 451 at RCPT, 550 at DATA")

        sa_ = peer(SmtpPeer(auth=("bus", "pw")))
        with smtplib.SMTP(sa_.host, sa_.port, timeout=WAIT) as s:
            s.ehlo()
            code, _ = s.docmd("MAIL FROM:<x@example.com>")
            expect(code == 530, "auth required", code)
            try:
                s.login("bus", "wrong")
                raise RuntimeError("bad login accepted")
            except smtplib.SMTPAuthenticationError as e:
                expect(e.smtp_code == 535, "535", e)
            s.user, s.password = "bus", "pw"
            code, _ = s.auth("LOGIN", s.auth_login)
            expect(code == 235, "LOGIN", code)
            s.send_message(mail())
        with smtplib.SMTP(sa_.host, sa_.port, timeout=WAIT) as s:
            s.ehlo()
            s.user, s.password = "bus", "pw"
            code, _ = s.auth("PLAIN", s.auth_plain)
            expect(code == 235, "PLAIN", code)
            s.send_message(mail())
        got = sa_.wait_messages(2)
        expect([m.auth_user for m in got] == ["bus", "bus"] and
               [(a[0], a[2]) for a in sa_.auth_attempts] == [  # smtplib's login() falls back from PLAIN to LOGIN
                   ("PLAIN", False), ("LOGIN", False), ("LOGIN", True), ("PLAIN", True)],
               "smtp auth", sa_.auth_attempts)
        ok("SmtpPeer(auth): MAIL before AUTH 530, bad credentials 535, AUTH LOGIN and AUTH PLAIN accepted")

        st_ = peer(SmtpPeer(auth=("bus", "pw"), tls="starttls", certificate=cert))
        with smtplib.SMTP(st_.host, st_.port, timeout=WAIT) as s:
            s.ehlo()
            expect(s.has_extn("starttls") and not s.has_extn("auth"), "starttls offered, auth hidden", s.esmtp_features)
            code, _ = s.docmd("MAIL FROM:<x@example.com>")
            expect(code == 530, "starttls required", code)
            s.starttls(context=cert.client_context())
            s.login("bus", "pw")
            s.send_message(mail())
        got = st_.wait_messages(1)
        expect(got[0].tls and got[0].auth_user == "bus", "starttls mail", got)
        ok("SmtpPeer(starttls): STARTTLS offered and required (530), verified against the cert, then AUTH and mail")

        ss = peer(SmtpPeer(auth=("bus", "pw"), tls="smtps", certificate=cert))
        with smtplib.SMTP_SSL(ss.host, ss.port, context=cert.client_context(), timeout=WAIT) as s:
            s.login("bus", "pw")
            s.send_message(mail())
        got = ss.wait_messages(1)
        expect(got[0].tls and ss.url.startswith("smtps://"), "smtps", got)
        ok("SmtpPeer(smtps): implicit TLS, AUTH, mail recorded")

        # Web Push.
        ua = PushSubscriber.from_keys(RFC8291["ua_private"], RFC8291["auth"])
        expect(ua.p256dh == RFC8291["ua_public"], "RFC ua public", ua.p256dh)
        expect(ua.decrypt(b64url_decode(RFC8291["body"])) == RFC8291["plaintext"], "RFC 8291 decrypt")
        as_key = ec.derive_private_key(int.from_bytes(b64url_decode(RFC8291["as_private"]), "big"), ec.SECP256R1())
        enc = webpush_encrypt(RFC8291["plaintext"], ua.p256dh, ua.auth, as_key, b64url_decode(RFC8291["salt"]))
        expect(b64url(enc) == RFC8291["body"], "RFC 8291 encrypt reproduces the example body")
        ok("PushSubscriber.decrypt of the RFC 8291 section 5 example yields %r (and webpush_encrypt reproduces it)"
           % RFC8291["plaintext"].decode())

        wp = peer(WebPushPeer(cert))
        sub = wp.subscribe()
        vapid = ec.generate_private_key(ec.SECP256R1())
        k = b64url(_p256_point(vapid.public_key()))
        wp.vapid_public_key = k

        def vapid_header(aud, exp_in=12 * 3600, sub_claim="mailto:ops@example.com"):
            t = sign_jwt(vapid, {"aud": aud, "exp": int(time.time()) + exp_in, "sub": sub_claim})
            return "vapid t=%s, k=%s" % (t, k)

        origin = wp.url
        claims = verify_vapid(vapid_header(origin), sub.endpoint, k)
        for bad, why in ((vapid_header("https://push.example.net"), "aud"), (vapid_header(origin, 90000), "24 h"),
                         (vapid_header(origin, -10), "exp"), (vapid_header(origin, sub_claim="ops"), "sub"),
                         (vapid_header(origin).replace("k=", "k=" + k[:4]), "k")):
            try:
                verify_vapid(bad, sub.endpoint, k)
                raise RuntimeError("verify_vapid accepted a bad %s" % why)
            except CheckFailed:
                pass
        push_headers = {"TTL": "3600", "Urgency": "high", "Content-Encoding": "aes128gcm",
                        "Content-Type": "application/octet-stream", "Authorization": vapid_header(origin)}
        st, hd, _ = fetch("POST", sub.endpoint, webpush_encrypt(b'{"title":"Hi"}', sub.p256dh, sub.auth), push_headers, ctx)
        wp.respond(wp.path(sub.endpoint.rsplit("/", 1)[1]), 410)
        st410, _, _ = fetch("POST", sub.endpoint, webpush_encrypt(b"x", sub.p256dh, sub.auth), push_headers, ctx)
        st401, _, _ = fetch("POST", sub.endpoint, webpush_encrypt(b"x", sub.p256dh, sub.auth),
                            dict(push_headers, Authorization=vapid_header("https://elsewhere.example")), ctx)
        other = PushSubscriber()
        st400, _, _ = fetch("POST", sub.endpoint, webpush_encrypt(b"x", other.p256dh, other.auth), push_headers, ctx)
        st_ttl, _, _ = fetch("POST", sub.endpoint, webpush_encrypt(b"x", sub.p256dh, sub.auth),
                             {k_: v_ for k_, v_ in push_headers.items() if k_ != "TTL"}, ctx)
        pushes = wp.wait_requests(5)
        expect(claims["sub"] == "mailto:ops@example.com" and st == 201 and hd["Location"] and
               pushes[0].plaintext == b'{"title":"Hi"}' and pushes[0].headers["urgency"] == "high" and
               pushes[0].vapid["aud"] == origin and [p.status for p in pushes] == [201, 410, 401, 400, 400] and
               len(wp.errors()) == 3, "web push", (pushes, wp.errors()))
        ok("WebPushPeer: VAPID verified (bad aud/exp/sub/k rejected), aes128gcm push decrypted and 201, "
           "scripted 410, wrong aud 401, wrong keys 400, missing TTL 400")
    finally:
        for c in reversed(cleanups):
            c()
        shutil.rmtree(work, ignore_errors=True)
    print("all %d self-checks passed" % len(passed))


if __name__ == "__main__":
    _selfcheck()
