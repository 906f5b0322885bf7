"""OTA firmware updates (spec/behaviours.md §7, http-api.md §4.3; upstream OTAManager, OTALogic,
OTAHandler, UploadHandler).

Owns: the firmware folder (`<data.folder>/ota`, served at `/static/ota/<name>`), the uploads into it,
the admin OTA endpoints under `<admin.rootPath>/ota/` and `<admin.rootPath>/upload`, and the pending
OTA ("for all" or per account) checked when a device reports its info. Never does: socket I/O; every
endpoint returns a Reply, and devices are told through their sessions (`BLYNK_INTERNAL 7777 ota\\0url`).

Invariant: only files this module wrote are ever served from the folder: names are ours (random,
with a firmware extension), the requested name is checked against a strict pattern, and the
resolved path must still lie inside the folder.
"""
import base64
import os
import re

from ..codec.commands import Command
from ..passwords import password_hash, same_hash
from ..sessions import login_guard
from . import http_common as H
from ..logger import get_logger

log = get_logger("blynklite.ota")

OTA_MSG_ID = 7777                       # upstream's fixed message id for the `ota` command
URL_PREFIX = "/static/ota/"
DEFAULT_FIRMWARE = "firmware_ota.bin"   # what GET /admin/ota/start names without `fileName`
FOLDER_NAME = "ota"
# Boards flash .bin images (ESP8266, ESP32, Arduino OTA); .hex is what AVR/ARM toolchains produce.
FIRMWARE_EXTENSIONS = frozenset((".bin", ".hex"))
# The largest OTA slot of common boards: ESP32 with 8 MB flash gives an app partition under 4 MB.
MAX_FIRMWARE_BYTES = 4 * 1024 * 1024
# Multipart framing around the file: boundary lines and part headers, far below this.
MULTIPART_OVERHEAD = 64 * 1024
BUILD_MARKER = b"\0build\0"
# A build string is a compiler date like "Dec  3 2026 10:00:00"; cap what is read from the file.
MAX_BUILD_LENGTH = 64
_SERVED_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.[a-z]{1,4}")


class OtaInfo:
    """One pending update: who started it, the firmware's URL path and build, the project name."""
    __slots__ = ("initiated_by", "initiated_at", "path", "build", "project")

    def __init__(self, initiated_by, initiated_at, path, build, project):
        self.initiated_by = initiated_by
        self.initiated_at = initiated_at
        self.path = path
        self.build = build
        self.project = project

    def wanted_by(self, reported_build, dash_name):
        """Upstream: a device with a reported build that differs, in the named project if any."""
        if not reported_build or reported_build == self.build:
            return False
        return self.project is None or self.project.lower() == (dash_name or "").lower()


class OtaUpdates:
    """The pending OTAs of the server (in memory only, as upstream)."""
    __slots__ = ("server", "for_all", "per_user")

    def __init__(self, server):
        self.server = server
        self.for_all = None
        self.per_user = {}

    @property
    def pending(self):
        return self.for_all is not None or bool(self.per_user)

    def stop(self):
        self.for_all = None
        self.per_user.clear()

    def device_reported(self, session):
        """After a device's info message: send the `ota` command if a pending OTA wants it."""
        build = (session.device.hardware_info or {}).get("build")
        info = self.for_all
        if info is None or not info.wanted_by(build, None):
            info = self.per_user.get(session.user.key)
            if info is None or not info.wanted_by(build, session.dash.name):
                return
        if not session.conn.writable:
            return
        mark_device(session.device, info.initiated_by, info.initiated_at, self.server.reactor.wall_ms)
        session.send(Command.BLYNK_INTERNAL, OTA_MSG_ID, ota_body(self.server, info.path))
        self.server.hub.mark_dirty(session.user)
        log.info("OTA command sent to %s, device %s (build %s -> %s)", session.user.email,
                 session.device.id, build, info.build)


def updates_of(server):
    """The server's OtaUpdates, made at the first OTA request (an idle server holds none)."""
    if server.ota is None:
        server.ota = OtaUpdates(server)
    return server.ota


def mark_device(device, initiated_by, initiated_at, now_ms):
    device.device_ota_info = {"otaInitiatedBy": initiated_by, "otaInitiatedAt": initiated_at,
                              "otaUpdateAt": now_ms}


def ota_body(server, path):
    port = server.config["http.port"]
    host = server.public_host() + ("" if port == 80 else f":{port}")
    return f"ota\0http://{host}{path}".encode("utf-8")


def folder_of(server):
    return os.path.join(os.path.realpath(server.store.folder), FOLDER_NAME)


def find_build(path):
    """The build string embedded as `\\0build\\0<build>\\0`, or None."""
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(BUILD_MARKER)
    if at < 0:
        return None
    start = at + len(BUILD_MARKER)
    end = data.find(b"\0", start, start + MAX_BUILD_LENGTH + 1)
    return data[start:end].decode("utf-8", "replace") if end > start else None


# -- serving ----------------------------------------------------------------------------------------
def serve(server, request, name):
    """GET /static/ota/<name>: a stored firmware file, streamed (FirmwareReply), or 404 (http-api.md §3)."""
    if not _SERVED_NAME.fullmatch(name):
        return H.not_found()
    folder = folder_of(server)
    path = os.path.realpath(os.path.join(folder, name))
    if os.path.dirname(path) != folder or not os.path.isfile(path):
        return H.not_found()
    return FirmwareReply(path)


# A firmware is larger than a connection may queue (net/connection.py HARD_LIMIT): it leaves in chunks,
# the next one only when the connection is writable again (below its HIGH_WATER mark).
CHUNK_BYTES = 16 * 1024
PUMP_DELAY = 0.01                 # seconds between looks at a full connection: up to 6 MB/s each
STALL_SECONDS = 60.0              # a device that takes nothing for this long is dropped


class _Length:
    """Stands for a body of `size` bytes in codec.http.response(head=True), which needs only its length."""
    __slots__ = ("size",)

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size


class FirmwareReply(H.Reply):
    """200 with Content-Length (ESP8266httpUpdate and HTTPUpdate need it); the HTTP session calls
    `stream()` instead of writing a body, and the connection closes when the file is sent."""
    __slots__ = ("path",)

    def __init__(self, path):
        super().__init__(200, b"", "application/octet-stream", close=True)
        self.path = path

    def stream(self, session, request, headers):
        from ..codec.http import response
        try:
            f = open(self.path, "rb")
        except OSError as error:
            log.error("firmware %s cannot be read: %s", self.path, error)
            session.conn.write(response(500, b"", None, (), keep_alive=False))
            session.conn.close("firmware unreadable")
            return
        size = os.fstat(f.fileno()).st_size
        session.conn.write(response(200, _Length(size), self.content_type, headers, keep_alive=False, head=True))
        if request.method == "HEAD":
            f.close()
            session.conn.close("HTTP connection: close")
            return
        FirmwareStream(session.server.reactor, session.conn, f, size).pump()


class FirmwareStream:
    """The connection's protocol while a firmware leaves: input is ignored, output paced by the queue."""
    __slots__ = ("reactor", "conn", "file", "left", "stalled_since")

    def __init__(self, reactor, conn, f, size):
        self.reactor = reactor
        self.conn = conn
        self.file = f
        self.left = size
        self.stalled_since = reactor.now
        conn.protocol = self
        conn.idle_timeout = 0         # a download may take minutes; STALL_SECONDS guards it instead
        conn.deadline = 0

    def pump(self):
        conn = self.conn
        if conn.closed:
            return
        while self.left and conn.writable:
            chunk = self.file.read(min(CHUNK_BYTES, self.left))
            if not chunk:             # the file shrank under us: the length sent is a lie now
                conn.abort("firmware file changed while being sent")
                return
            self.left -= len(chunk)
            self.stalled_since = self.reactor.now
            conn.write(chunk)
        if not self.left or conn.closed:
            self.file.close()
            conn.close("firmware sent")
        elif self.reactor.now - self.stalled_since > STALL_SECONDS:
            conn.abort("firmware download stalled")
        else:
            self.reactor.call_later(PUMP_DELAY, self.pump)

    def data_received(self, data):
        pass

    def connection_lost(self, reason):
        self.file.close()


# -- the admin endpoints ----------------------------------------------------------------------------
def handle(admin, request, path, cookie_user, ip):
    """`path` is below the admin root: /ota/start, /ota/stop or /upload."""
    initiator = cookie_user or basic_auth_admin(admin.server, request, ip)
    if initiator is None:
        return H.not_found()       # no credentials: the request falls through, as upstream
    if isinstance(initiator, H.Reply):
        return initiator
    route = ROUTES.get((request.method, path))
    if route is None:
        return H.not_found()
    try:
        return route(admin.server, request, initiator)
    except H.HttpProblem as problem:
        return problem.reply


def basic_auth_admin(server, request, ip):
    """The super-admin named by `Authorization: Basic`, None without the header, 403 when wrong, 429
    while `ip` is blocked after repeated failures (sessions/login_guard.py; not evaluated then)."""
    header = request.header("authorization") or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    guard = server.login_guard
    if guard.blocked(login_guard.ADMIN_BASIC, ip):
        return H.Reply(429, b"Too many failed attempts; try again later.", H.TEXT_TYPE, close=True)
    try:
        email, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        guard.failed(login_guard.ADMIN_BASIC, ip, reason="malformed credentials")
        return H.forbidden("Authentication failed.")
    email = email.strip().lower()
    user = server.hub.get_user(email, "Blynk")
    if user is None or not user.is_super_admin or not user.password or \
            not same_hash(user.password, password_hash(password, email)):
        log.warning("OTA request with wrong credentials for %r", email)
        guard.failed(login_guard.ADMIN_BASIC, ip, reason=f"wrong credentials for {email!r}")
        return H.forbidden("Authentication failed.")
    return user


def query(request):
    return {k: v[0] for k, v in request.query.items() if v}


def start_named(server, request, initiator):
    """GET /ota/start?token=[&fileName=]: every hardware connection of the token's owner."""
    params = query(request)
    ref = server.hub.resolve_token(params.get("token") or "")
    if ref is None:
        return H.bad_request("Invalid token.")
    name = params.get("fileName") or DEFAULT_FIRMWARE
    user_session = server.hub.existing_session(ref.user)
    if user_session is None:
        return H.bad_request("Device wasn't connected yet.")
    if not send_ota(server, user_session.hardware, URL_PREFIX + name):
        return H.bad_request("No device in session.")
    mark_device(ref.device, initiator.email, server.reactor.wall_ms, server.reactor.wall_ms)
    server.hub.mark_dirty(ref.user)
    return H.ok()


def start_uploaded(server, request, initiator):
    """POST /ota/start multipart: one device (token), one account (user, appName, project) or all."""
    path = store_upload(server, request)
    build = find_build(os.path.join(folder_of(server), path[len(URL_PREFIX):]))
    params = query(request)
    now = server.reactor.wall_ms
    if params.get("token"):
        return start_for_device(server, params["token"], path, initiator)
    if params.get("user"):
        user = server.hub.get_user(params["user"].strip().lower(), params.get("appName") or "Blynk")
        if user is None:
            return H.bad_request("Requested user not found.")
        updates_of(server).per_user[user.key] = OtaInfo(initiator.email, now, path, build, params.get("project"))
        log.info("OTA for %s (project %s), build %s, by %s", user.email, params.get("project"), build,
                 initiator.email)
    else:
        updates_of(server).for_all = OtaInfo(initiator.email, now, path, build, None)
        log.info("OTA for all devices, build %s, by %s", build, initiator.email)
    return H.Reply(200, path, H.TEXT_TYPE)


def start_for_device(server, token, path, initiator):
    ref = server.hub.resolve_token(token)
    if ref is None:
        return H.bad_request("Invalid token.")
    user_session = server.hub.existing_session(ref.user)
    if user_session is None:
        return H.bad_request("Device wasn't connected yet.")
    if not send_ota(server, user_session.hardware_of(ref.dash.id, ref.device.id), path):
        return H.bad_request("No device in session.")
    mark_device(ref.device, initiator.email, server.reactor.wall_ms, server.reactor.wall_ms)
    server.hub.mark_dirty(ref.user)
    return H.Reply(200, path, H.TEXT_TYPE)


def send_ota(server, sessions, path):
    """True when at least one device was sent the command."""
    body = ota_body(server, path)
    sent = False
    for hw in sessions:
        if hw.conn.writable:
            hw.send(Command.BLYNK_INTERNAL, OTA_MSG_ID, body)
            sent = True
    return sent


def stop(server, request, initiator):
    updates_of(server).stop()
    log.info("OTA stopped by %s", initiator.email)
    return H.ok()


def upload(server, request, initiator):
    """POST /upload: store a firmware file only; the answer is its /static/ota/ path."""
    return H.Reply(200, store_upload(server, request), H.TEXT_TYPE)


ROUTES = {
    ("GET", "/ota/start"): start_named,
    ("POST", "/ota/start"): start_uploaded,
    ("GET", "/ota/stop"): stop,
    ("POST", "/upload"): upload,
}


# -- uploads ----------------------------------------------------------------------------------------
def store_upload(server, request):
    """Write the multipart request's file into the folder under a new name; its URL path."""
    filename, data = firmware_part(request)
    extension = os.path.splitext(filename)[1].lower()
    if extension not in FIRMWARE_EXTENSIONS:
        raise H.HttpProblem(H.bad_request(
            f"Only firmware files can be uploaded ({', '.join(sorted(FIRMWARE_EXTENSIONS))})."))
    if not data:
        raise H.HttpProblem(H.bad_request("The firmware file is empty."))
    if len(data) > MAX_FIRMWARE_BYTES:
        raise H.HttpProblem(H.Reply(413, f"Firmware over {MAX_FIRMWARE_BYTES} bytes.", H.TEXT_TYPE))
    folder = folder_of(server)
    os.makedirs(folder, exist_ok=True)
    name = "upload" + base64.urlsafe_b64encode(os.urandom(9)).decode("ascii") + extension
    temp = os.path.join(folder, "." + name + ".tmp")
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, os.path.join(folder, name))
    log.info("firmware %r stored as %s%s (%d bytes)", filename, URL_PREFIX, name, len(data))
    return URL_PREFIX + name


def firmware_part(request):
    """(file name, bytes) of the first file part of a multipart/form-data body; 400 otherwise."""
    content_type = request.header("content-type") or ""
    match = re.search(r'boundary="?([^";]{1,70})"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise H.HttpProblem(H.bad_request("Can't find binary data in request."))
    delimiter = b"--" + match.group(1).encode("latin-1")
    for part in request.body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.partition(b"\r\n\r\n")
        disposition = re.search(rb'filename="([^"\r\n]*)"', head)
        if separator and disposition is not None:
            if content.endswith(b"\r\n"):
                content = content[:-2]
            return disposition.group(1).decode("utf-8", "replace"), content
    raise H.HttpProblem(H.bad_request("Can't find binary data in request."))


def body_limit(default):
    """The request-body limit for an OTA upload: the firmware limit plus its multipart framing."""
    return max(default, MAX_FIRMWARE_BYTES + MULTIPART_OVERHEAD)
