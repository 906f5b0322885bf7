"""A command-line stand-in for the retired Blynk mobile app (spec/app.md).

Speaks the real app protocol (7-byte headers, spec/framing.md §2.2) over TLS to port 9443, so it works
against blynklite and against the original Java server alike. Self-signed certificates are normal for
local servers, so certificates are not verified unless `--cafile` names the CA to trust.

Usage:

    python3 -m blynklite.client --email me@example.com --password secret new-device Kitchen
        → registers the account if needed, creates project 1 "My Project" if there is none, adds the
          device, activates the project and prints only the token (TOKEN=$(...) works)
    python3 -m blynklite.client --email E --password P write V1 42 [--dash 1] [--device 0]
    python3 -m blynklite.client --email E --password P sync [--dash 1] [--device 0]
    python3 -m blynklite.client --email E --password P watch [--dash 1] [--seconds 30]
    python3 -m blynklite.client --email E --password P tokens
    python3 -m blynklite.client --email E --password P share [--dash 1] [--refresh | --off]
    python3 -m blynklite.client --email E --password P tags | tag 100000 Lights 0 1 | tag-delete 100000
    python3 -m blynklite.client --email E --password P provision Garage --id 5
    python3 -m blynklite.client --email E --password P clone-code [--dash 1] | clone CODE
    python3 -m blynklite.client --email E reset-password [--token T --new-password NEW]

Common options: --host (127.0.0.1), --port (9443), --no-tls, --cafile FILE, --app (Blynk). They may
also follow the subcommand. E-mail and password may come from the BLYNK_EMAIL and BLYNK_PASSWORD
environment variables instead of the command line (which other local users can see). Exit codes: 0
success (a `write` to an offline device is stored and prints `stored; device 1-0 offline`), 2 refused /
failed request / no connection. `watch` and `sync` print pins the same way: `1-0 V1 42`.

From Python, `AppClient` is a small blocking client: `request()` sends a message and waits for the
reply carrying the same message id; anything the server pushes meanwhile is kept, in order, in
`client.inbox` and handed out by `receive()`.
"""
import argparse
import collections
import json
import os
import socket
import ssl
import sys
import time
import zlib

from blynklite import __version__
from blynklite.codec.commands import Command, Status, command_name
from blynklite.codec.frames import APP, ProtocolError, app_decoder
from blynklite.passwords import password_hash  # noqa: F401 (part of the client API)

SEP = "\0"
MAX_MSG_ID = 0xFFFF
# Server-originated messages reuse a sender's id (framing.md §2.5), so an id match alone cannot tell
# a reply from a push: a reply is a response (command 0) or, for these requests only, a message with
# the request's own command (the "cmd N" replies of app.md §3). Pushed HARDWARE, APP_SYNC, ACTIVATE
# and the like never answer our requests, even when their id happens to equal ours.
DATA_REPLIES = frozenset((
    Command.GET_SERVER, Command.LOAD_PROFILE_GZIPPED, Command.CREATE_DEVICE, Command.GET_DEVICES,
    Command.MOBILE_GET_DEVICE, Command.REFRESH_TOKEN, Command.CREATE_TAG, Command.GET_TAGS,
    Command.GET_ENERGY, Command.GET_SHARE_TOKEN, Command.REFRESH_SHARE_TOKEN, Command.GET_WIDGET,
    Command.GET_ENHANCED_GRAPH_DATA, Command.GET_PROVISION_TOKEN, Command.GET_CLONE_CODE,
    Command.GET_PROJECT_BY_CLONE_CODE, Command.CREATE_APP, Command.GET_PROJECT_BY_TOKEN, 77, 78, 80,
))
PIN_LETTERS = {"V": "v", "D": "d", "A": "a"}
# Messages whose body is `<dash>-<device> <pin write>`: shown as `1-0 V1 42` by `watch` and `sync` alike.
PIN_COMMANDS = frozenset((Command.HARDWARE, Command.APP_SYNC))
PIN_WRITES = frozenset(("vw", "dw", "aw"))
DEFAULT_DASH_NAME = "My Project"
RECV_SIZE = 65536

_STATUS_NAMES = {v: k for k, v in vars(Status).items() if k.isupper()}


def status_name(status):
    """`USER_NOT_AUTHENTICATED (5)`: how statuses are shown to people."""
    return f"{_STATUS_NAMES.get(status, 'STATUS')} ({status})"


class ClientError(Exception):
    """The server answered a request with a status other than the one expected."""

    def __init__(self, status, what=""):
        super().__init__(f"{what + ': ' if what else ''}{status_name(status)}")
        self.status = status


class AppClient:
    """One blocking app connection. Messages are tuples (command, msg_id, payload): payload is the
    int status for responses (command 0), else the body bytes."""

    def __init__(self, host, port, tls=True, timeout=10.0, cafile=None):
        self.timeout = timeout
        self.inbox = collections.deque()
        self._decoded = collections.deque()
        self._decoder = app_decoder()
        self._last_id = 0
        self._sock = _connect(host, port, tls, timeout, cafile)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- messages --------------------------------------------------------------------------------

    def send(self, command, body=b""):
        """Send one message with the next message id (1..65535, wrapping) and return that id."""
        self._last_id = self._last_id % MAX_MSG_ID + 1
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self._sock.sendall(APP.message(command, self._last_id, data))
        return self._last_id

    def request(self, command, body=b""):
        """Send, then wait up to `timeout` for the reply with the same id; other messages go to inbox."""
        msg_id = self.send(command, body)
        reply = self.wait_for(lambda m: _is_reply(m, command, msg_id), self.timeout)
        if reply is None:
            raise TimeoutError(f"no reply to {command_name(command)} (msg id {msg_id}) "
                               f"within {self.timeout} s")
        return reply

    def receive(self, timeout=None):
        """Next message, from the inbox first; None if nothing arrives in `timeout` (default: the
        client's timeout) seconds."""
        if self.inbox:
            return self.inbox.popleft()
        return self._next(time.monotonic() + (self.timeout if timeout is None else timeout))

    def wait_for(self, wanted, timeout):
        """First message from the socket for which `wanted(message)` holds, within `timeout` seconds;
        the messages passed over are appended to inbox. None on timeout."""
        deadline = time.monotonic() + timeout
        while (message := self._next(deadline)) is not None:
            if wanted(message):
                return message
            self.inbox.append(message)
        return None

    def _next(self, deadline):
        while not self._decoded:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(RECV_SIZE)
            except (socket.timeout, ssl.SSLWantReadError):
                return None
            if not data:
                raise ConnectionError("the server closed the connection")
            for command, msg_id, size, body in self._decoder.feed(data):
                payload = size if command == Command.RESPONSE else bytes(body)
                self._decoded.append((command, msg_id, payload))
        return self._decoded.popleft()

    # -- account, projects, devices --------------------------------------------------------------

    def register(self, email, password, app_name="Blynk"):
        email = _normal_email(email)
        return self._status(Command.REGISTER, _join(email, password_hash(password, email), app_name))

    def login(self, email, password, app_name="Blynk", os_name="Android", version="2.27.0"):
        email = _normal_email(email)
        body = _join(email, password_hash(password, email), os_name, version, app_name)
        return self._status(Command.LOGIN, body)

    def load_profile(self):
        """The whole profile as a dict (the reply body is zlib, despite the command's name)."""
        body = self._data(Command.LOAD_PROFILE_GZIPPED, b"", "load profile")
        return json.loads(zlib.decompress(body).decode("utf-8"))

    def create_dash(self, dash_id, name):
        return self._status(Command.CREATE_DASH, json.dumps({"id": dash_id, "name": name}))

    def create_device(self, dash_id, device_id, name, board="ESP8266"):
        """Create a device and return its JSON, which includes the new token."""
        device = json.dumps({"id": device_id, "name": name, "boardType": board})
        body = self._data(Command.CREATE_DEVICE, _join(str(dash_id), device), "create device")
        return json.loads(body.decode("utf-8"))

    def activate(self, dash_id):
        return self._status(Command.ACTIVATE_DASHBOARD, str(dash_id))

    def new_device(self, name, dash_id=None, board="ESP8266"):
        """Add a device to `dash_id` (default: the first project, created if there is none) and
        activate that project. Returns (dash_id, device_id, token)."""
        dash = self._dash_for_new_device(dash_id)
        device_id = max((d["id"] for d in dash.get("devices") or ()), default=-1) + 1
        device = self.create_device(dash["id"], device_id, name, board)
        status = self.activate(dash["id"])
        if status not in (Status.OK, Status.DEVICE_NOT_IN_NETWORK):
            raise ClientError(status, "activate project")
        return dash["id"], device_id, device["token"]

    def _dash_for_new_device(self, dash_id):
        dashes = self.load_profile().get("dashBoards") or []
        for dash in dashes:
            if dash_id is None or dash["id"] == dash_id:
                return dash
        dash_id = 1 if dash_id is None else dash_id
        status = self.create_dash(dash_id, DEFAULT_DASH_NAME)
        if status != Status.OK:
            raise ClientError(status, "create project")
        return {"id": dash_id, "devices": []}

    # -- controlling devices ---------------------------------------------------------------------

    def write(self, dash_id, device_id, pin, value):
        """Write `value` (or a list of values) to `pin` ("V1", "D13", "A0"). Returns the msg id;
        the server answers only on failure (e.g. DEVICE_NOT_IN_NETWORK)."""
        letter, number = parse_pin(pin)
        values = value if isinstance(value, (list, tuple)) else [value]
        body = _join(f"{dash_id}-{device_id}", letter + "w", number, *map(str, values))
        return self.send(Command.HARDWARE, body)

    def sync(self, dash_id, device_id=None, settle=0.5):
        """APP_SYNC: the OK, then the stored values the server replays, collected until none has
        arrived for `settle` seconds (at most `timeout` in all). Other messages go to inbox."""
        target = str(dash_id) if device_id is None else f"{dash_id}-{device_id}"
        replies = [self.request(Command.APP_SYNC, target)]
        if replies[0][2] != Status.OK:
            return replies
        end = time.monotonic() + max(self.timeout, settle)
        while (message := self.wait_for(_is_sync_stream, min(settle, end - time.monotonic()))):
            replies.append(message)
        return replies

    # -- helpers ---------------------------------------------------------------------------------

    def _status(self, command, body):
        """For requests answered only by a response (not in DATA_REPLIES): its status."""
        return self.request(command, body)[2]

    def _data(self, command, body, what):
        command_, _, payload = self.request(command, body)
        if command_ == Command.RESPONSE:
            raise ClientError(payload, what)
        return payload


def parse_pin(pin):
    """"V1" → ("v", "1"); also accepts "v1", "D13", "A0"."""
    letter, number = PIN_LETTERS.get(pin[:1].upper()), pin[1:]
    if letter is None or not number.isdigit():
        raise ValueError(f"bad pin {pin!r}: expected V<n>, D<n> or A<n>")
    return letter, number


def describe(message):
    """One readable line for a message from the server, pins written as `sync` shows them:
    `1-0 V1 42` for a pin value, `1-0 V1 label=Hi` for a widget property, else the command's name and
    its fields (`RESPONSE 3 DEVICE_NOT_IN_NETWORK (3)`, `HARDWARE_CONNECTED 1-0`)."""
    command, msg_id, payload = message
    if command == Command.RESPONSE:
        return f"RESPONSE {msg_id} {status_name(payload)}"
    fields = payload.decode("utf-8", "replace").split(SEP)
    if command == Command.SET_WIDGET_PROPERTY and len(fields) >= 4:
        pin = "V" + fields[1] if fields[1].isdigit() else fields[1]
        return f"{fields[0]} {pin} {fields[2]}={SEP.join(fields[3:])}"
    if command in PIN_COMMANDS and len(fields) >= 3 and fields[1] in PIN_WRITES:
        return " ".join([fields[0], fields[1][0].upper() + fields[2], *fields[3:]])
    return " ".join([command_name(command), *fields])


sync_line = describe  # the name `sync` used before `watch` shared its notation


def _is_reply(message, command, msg_id):
    return message[1] == msg_id and (
        message[0] == Command.RESPONSE or (message[0] == command and command in DATA_REPLIES))


def _is_sync_stream(message):
    return message[0] in (Command.APP_SYNC, Command.SET_WIDGET_PROPERTY) and message[1] == 1111


def _join(*fields):
    return SEP.join(fields)


def _normal_email(email):
    return email.strip().lower()


def _connect(host, port, tls, timeout, cafile):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tls:
        return sock
    try:
        return _tls_context(cafile).wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def _tls_context(cafile):
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# -- command line --------------------------------------------------------------------------------

class Failure(Exception):
    """An expected failure: shown as one line on stderr, then exit with `code`."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.email or not (args.password or getattr(args, "no_login", False)):
        parser.error("--email and --password (or BLYNK_EMAIL / BLYNK_PASSWORD) are required")
    try:
        return args.run(args) or 0
    except Failure as failure:
        return _fail(str(failure), failure.code)
    except ClientError as error:
        return _fail(str(error), 2)
    except ConnectionRefusedError:
        return _fail(f"cannot connect to {args.host}:{args.port}: connection refused "
                     f"(is the server running?)", 2)
    except ssl.SSLError as error:
        return _fail(f"TLS failed with {args.host}:{args.port}: {error} "
                     f"(try --no-tls, or --cafile for a certificate you trust)", 2)
    except (OSError, ProtocolError, zlib.error, json.JSONDecodeError) as error:
        return _fail(f"{args.host}:{args.port}: {error}", 2)
    except ValueError as error:
        return _fail(str(error), 2)
    except KeyboardInterrupt:
        return 130


def _fail(message, code):
    print(f"error: {message}", file=sys.stderr)
    return code


def _open(args):
    return AppClient(args.host, args.port, tls=not args.no_tls, timeout=args.timeout,
                     cafile=args.cafile)


def _logged_in(args):
    client = _open(args)
    try:
        status = client.login(args.email, args.password, app_name=args.app)
    except BaseException:
        client.close()
        raise
    if status != Status.OK:
        client.close()
        raise Failure(f"login as {args.email} failed: {status_name(status)}")
    return client


def cmd_new_device(args):
    with _open(args) as client:
        status = client.register(args.email, args.password, app_name=args.app)
    if status not in (Status.OK, Status.USER_ALREADY_REGISTERED):
        raise Failure(f"register {args.email} failed: {status_name(status)}")
    with _logged_in(args) as client:
        dash_id, device_id, token = client.new_device(args.name, args.dash, args.board)
    print(token, flush=True)
    print(f"Device {args.name!r} (dash {dash_id}, device {device_id}) token: {token}",
          file=sys.stderr)


def cmd_write(args):
    value = args.value if len(args.value) > 1 else args.value[0]
    with _logged_in(args) as client:
        msg_id = client.write(args.dash, args.device, args.pin, value)
        reply = client.wait_for(lambda m: m[0] == Command.RESPONSE and m[1] == msg_id, 1.0)
    if reply is None:
        return 0
    target = f"{args.dash}-{args.device}"
    if reply[2] == Status.DEVICE_NOT_IN_NETWORK:
        # The server stored the value before it found no device to hand it to (app.md): the device
        # reads it when it connects and syncs. Not an error.
        print(f"stored; device {target} offline", flush=True)
        return 0
    raise Failure(f"write {args.pin} to {target} failed: {status_name(reply[2])}")


def cmd_sync(args):
    with _logged_in(args) as client:
        replies = client.sync(args.dash, args.device)
    if replies[0][2] != Status.OK:
        raise Failure(f"sync of dash {args.dash} failed: {status_name(replies[0][2])}")
    for message in replies[1:]:
        print(sync_line(message))


def cmd_watch(args):
    prefix = None if args.dash is None else f"{args.dash}-"
    end = None if args.seconds is None else time.monotonic() + args.seconds
    with _logged_in(args) as client:
        try:
            while end is None or time.monotonic() < end:
                wait = 1.0 if end is None else min(1.0, end - time.monotonic())
                message = client.receive(max(wait, 0))
                if message is not None and _shown(message, prefix):
                    print(describe(message), flush=True)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch normally ends


def _shown(message, prefix):
    if prefix is None or message[0] == Command.RESPONSE:
        return True
    return message[2].decode("utf-8", "replace").startswith(prefix)


def cmd_tokens(args):
    with _logged_in(args) as client:
        profile = client.load_profile()
    for dash in profile.get("dashBoards") or []:
        for device in dash.get("devices") or []:
            print(f"{dash['id']}-{device['id']}\t{device.get('token') or '-'}\t"
                  f"{dash.get('name', '')} / {device.get('name', '')}")


def terminal_qr(text):
    """A QR code of `text` drawn with half-block characters: two module rows per text line."""
    from blynklite.qrcode import qr_matrix
    matrix = qr_matrix(text)
    size = len(matrix) + 2 * QR_QUIET_ZONE
    dark = [[False] * size for _ in range(size)]
    for y, row in enumerate(matrix):
        for x, module in enumerate(row):
            dark[y + QR_QUIET_ZONE][x + QR_QUIET_ZONE] = module
    dark.append([False] * size)
    glyphs = {(False, False): "\u2588", (True, False): "\u2584", (False, True): "\u2580", (True, True): " "}
    return "\n".join("".join(glyphs[(dark[y][x], dark[y + 1][x])] for x in range(size))
                     for y in range(0, size, 2))


QR_QUIET_ZONE = 2   # light modules around the symbol; readers want some, a terminal has little room


def cmd_share(args):
    with _logged_in(args) as client:
        if client._status(Command.SHARING, _join(str(args.dash), "off" if args.off else "on")) != Status.OK:
            raise Failure(f"no project {args.dash}")
        if args.off:
            print(f"sharing of project {args.dash} is off", flush=True)
            return
        command = Command.REFRESH_SHARE_TOKEN if args.refresh else Command.GET_SHARE_TOKEN
        token = client._data(command, str(args.dash), "share token").decode()
    print(token, flush=True)
    print(terminal_qr(token), file=sys.stderr)
    print(f"Project {args.dash} is shared: the other phone scans this code (or types the token) "
          f"and logs in as {args.email}.", file=sys.stderr)


def cmd_tags(args):
    with _logged_in(args) as client:
        tags = json.loads(client._data(Command.GET_TAGS, str(args.dash), "tags"))
    for tag in tags:
        print(f"{tag['id']}\t{tag.get('name', '')}\t{' '.join(map(str, tag.get('deviceIds') or []))}")


def cmd_tag(args):
    tag = json.dumps({"id": args.id, "name": args.name, "deviceIds": args.devices})
    with _logged_in(args) as client:
        command, _, payload = client.request(Command.CREATE_TAG, _join(str(args.dash), tag))
        if command == Command.RESPONSE and payload == Status.ILLEGAL_COMMAND:
            payload = client._status(Command.UPDATE_TAG, _join(str(args.dash), tag))   # it exists: update it
            command = Command.RESPONSE if payload != Status.OK else Command.UPDATE_TAG
    if command == Command.RESPONSE:
        raise Failure(f"tag {args.id} refused: {status_name(payload)} (ids start at 100000, names are "
                      f"1-40 characters, at most 25 devices)")
    print(f"tag {args.id} {args.name!r}: devices {' '.join(map(str, args.devices)) or '(none)'}")


def cmd_tag_delete(args):
    with _logged_in(args) as client:
        status = client._status(Command.DELETE_TAG, _join(str(args.dash), str(args.id)))
    if status != Status.OK:
        raise Failure(f"delete tag {args.id}: {status_name(status)}")


def cmd_provision(args):
    device = json.dumps({"id": args.id, "name": args.name, "boardType": args.board})
    with _logged_in(args) as client:
        reply = json.loads(client._data(Command.GET_PROVISION_TOKEN, _join(str(args.dash), device),
                                        "provisioning token"))
    print(reply["token"], flush=True)
    print(f"Temporary token for device {args.id} {args.name!r}: it joins project {args.dash} when it "
          f"first logs in with it (unused tokens expire after 7 days).", file=sys.stderr)


def cmd_clone_code(args):
    with _logged_in(args) as client:
        code = client._data(Command.GET_CLONE_CODE, str(args.dash), "clone code").decode()
    print(code, flush=True)
    print(terminal_qr(f"blynk://token/clone/{code}?server={args.host}&port={args.port}"), file=sys.stderr)


def cmd_clone(args):
    with _logged_in(args) as client:
        payload = client._data(Command.GET_PROJECT_BY_CLONE_CODE, _join(args.code, "new"), "clone")
    dash = json.loads(zlib.decompress(payload))
    print(f"project {dash['id']} {dash.get('name', '')!r} created", flush=True)
    for device in dash.get("devices") or []:
        print(f"{dash['id']}-{device['id']}\t{device.get('token') or '-'}\t{device.get('name', '')}")


def cmd_reset_password(args):
    with _open(args) as client:
        if args.token is None:
            status = client._status(Command.RESET_PASSWORD, _join("start", _normal_email(args.email), args.app))
            what = f"a reset mail to {args.email}"
        else:
            new_password = args.new_password or os.environ.get("BLYNK_NEW_PASSWORD")
            if not new_password:
                raise Failure("--new-password (or BLYNK_NEW_PASSWORD) is required with --token")
            email = _normal_email(args.email)
            status = client._status(Command.RESET_PASSWORD,
                                    _join("reset", args.token, password_hash(new_password, email)))
            what = "the new password"
    if status != Status.OK:
        raise Failure(f"{what}: {status_name(status)}")
    print("mail sent: it holds the token for --token" if args.token is None else "password changed")


# One row per subcommand: (name, function, help, example, arguments). An argument is
# (flags, argparse keywords); help texts give the defaults. A new subcommand is a new row.
_DASH = (("--dash",), dict(type=int, default=1, help="project id (default: 1)"))
SUBCOMMANDS = (
    ("new-device", cmd_new_device, "create a device (and the account and a project if needed), print its token",
     "TOKEN=$(python3 -m blynklite.client --email me@example.com --password secret new-device Kitchen)",
     ((("name",), dict(help="device name")),
      (("--dash",), dict(type=int, help="project id (default: the first project, created if there is none)")),
      (("--board",), dict(default="ESP8266", help="board type shown in the project (default: ESP8266)")))),
    ("write", cmd_write, "write a value to a device pin; an offline device gets it when it syncs",
     "python3 -m blynklite.client ... write V1 42        (prints `stored; device 1-0 offline` if it is)",
     ((("pin",), dict(help="V1, D13, A0 ...")),
      (("value",), dict(nargs="+", help="one value, or several for a multi-value pin")),
      (("--dash",), dict(type=int, default=1, help="project id (default: 1)")),
      (("--device",), dict(type=int, default=0, help="device id (default: 0)")))),
    ("sync", cmd_sync, "print the stored pin values, one `1-0 V1 42` line each",
     "python3 -m blynklite.client ... sync --dash 1",
     ((("--dash",), dict(type=int, default=1, help="project id (default: 1)")),
      (("--device",), dict(type=int, help="only this device (default: all of the project)")))),
    ("watch", cmd_watch, "print what the server pushes (`1-0 V5 21.5` for a device write) until Ctrl-C",
     "python3 -m blynklite.client ... watch --seconds 60",
     ((("--dash",), dict(type=int, help="only this project (default: all)")),
      (("--seconds",), dict(type=float, help="stop after N seconds (default: run until Ctrl-C)")))),
    ("tokens", cmd_tokens, "list devices and tokens: `1-0<TAB>TOKEN<TAB>project / device`",
     "python3 -m blynklite.client ... tokens", ()),
    ("share", cmd_share, "share a project: print its share token and show it as a QR code",
     "python3 -m blynklite.client ... share --dash 1      (--refresh: a new token; --off: stop sharing)",
     (_DASH, (("--refresh",), dict(action="store_true", help="a new token; share sessions are closed")),
      (("--off",), dict(action="store_true", help="stop sharing (the token is kept)")))),
    ("tags", cmd_tags, "list the tags of a project: `ID<TAB>name<TAB>device ids`",
     "python3 -m blynklite.client ... tags --dash 1", (_DASH,)),
    ("tag", cmd_tag, "create or update a tag (a write to its id reaches all its devices)",
     "python3 -m blynklite.client ... tag 100000 Lights 0 1",
     ((("id",), dict(type=int, help="tag id, 100000 or more")), (("name",), dict(help="tag name")),
      (("devices",), dict(type=int, nargs="*", help="device ids")), _DASH)),
    ("tag-delete", cmd_tag_delete, "delete a tag", "python3 -m blynklite.client ... tag-delete 100000",
     ((("id",), dict(type=int, help="tag id")), _DASH)),
    ("provision", cmd_provision, "a temporary token for a device that joins the project at its first login",
     "python3 -m blynklite.client ... provision Garage --id 5",
     ((("name",), dict(help="device name")), (("--id",), dict(type=int, default=1, help="device id (default: 1)")),
      (("--board",), dict(default="ESP8266", help="board type (default: ESP8266)")), _DASH)),
    ("clone-code", cmd_clone_code, "a clone code for a project (and its QR code, as the app scans it)",
     "python3 -m blynklite.client ... clone-code --dash 1", (_DASH,)),
    ("clone", cmd_clone, "create a copy of a project from a clone code, with new device tokens",
     "python3 -m blynklite.client ... clone CODE", ((("code",), dict(help="clone code")),)),
    ("reset-password", cmd_reset_password,
     "reset a forgotten password: without --token a mail with a token is sent, with it the password is set",
     "python3 -m blynklite.client --email me@example.com reset-password; then: "
     "... reset-password --token TOKEN --new-password NEW",
     ((("--token",), dict(help="the token from the reset mail")),
      (("--new-password",), dict(help="the new password (default: $BLYNK_NEW_PASSWORD)")))),
)
NO_LOGIN = frozenset(("reset-password",))   # subcommands that need no password

EPILOG = """\
examples (e-mail and password may also come from BLYNK_EMAIL and BLYNK_PASSWORD):
  python3 -m blynklite.client --email me@example.com --password secret new-device Kitchen
  python3 -m blynklite.client --host 192.168.1.10 --email me@example.com --password secret write V1 42
  python3 -m blynklite.client --email me@example.com --password secret sync
  python3 -m blynklite.client --email me@example.com --password secret watch

exit status: 0 done (also a write stored for an offline device), 2 refused, failed or no connection,
130 interrupted."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks."""


def _parser():
    parser = argparse.ArgumentParser(prog="python3 -m blynklite.client", epilog=EPILOG,
                                     formatter_class=_HelpFormatter,
                                     description="Command-line Blynk app client: talks the app protocol "
                                                 "to blynklite or a Java Blynk server.")
    parser.add_argument("--version", action="version", version=f"blynklite client {__version__}")
    _add_common(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, run, help_text, example, arguments in SUBCOMMANDS:
        sub = commands.add_parser(name, help=help_text, description=help_text + ".",
                                  epilog=f"example:\n  {example}", formatter_class=_HelpFormatter)
        sub.set_defaults(run=run, no_login=name in NO_LOGIN)
        for flags, options in arguments:
            sub.add_argument(*flags, **options)
        _add_common(sub, argparse.SUPPRESS)
    return parser


def _add_common(parser, suppress):
    """The connection options, on the main parser (with defaults) and again on each subcommand
    (without defaults, so that an option given before the subcommand is not overwritten)."""
    def default(value):
        return suppress if suppress is not None else value
    parser.add_argument("--host", default=default("127.0.0.1"), help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default(9443), help="app port, TLS (default: 9443)")
    parser.add_argument("--no-tls", action="store_true", default=default(False),
                        help="plain TCP instead of TLS (default: TLS)")
    parser.add_argument("--cafile", default=default(None),
                        help="verify the server's certificate with this CA file (default: not verified)")
    parser.add_argument("--timeout", type=float, default=default(10.0),
                        help="seconds to wait for each reply (default: 10)")
    parser.add_argument("--email", default=default(os.environ.get("BLYNK_EMAIL")),
                        help="account e-mail (default: $BLYNK_EMAIL)")
    parser.add_argument("--password", default=default(os.environ.get("BLYNK_PASSWORD")),
                        help="account password (default: $BLYNK_PASSWORD)")
    parser.add_argument("--app", default=default("Blynk"), help="app name (default: Blynk)")


if __name__ == "__main__":
    sys.exit(main())
