"""Server configuration: defaults, server.properties, command line.

What it owns: turning the shipped defaults, one ``server.properties`` file and the command line
into a typed :class:`ServerConfig`; reading ``mail.properties``, ``sms.properties``,
``gcm.properties`` and ``twitter4j.properties`` into plain dicts. What it never does: open sockets, create folders, or decide what an empty
``data.folder`` or ``admin.pass`` means -- the code that uses those keys does.

Invariant: ``DEFAULTS`` is the only place a key's default and type are written down. A key's
type is the Python type of its default (bool, int or str), so a new key needs exactly one line
there (and one in ``server.properties.example``; tests/test_config.py checks both agree).

Loading order (spec/config.md section 1): DEFAULTS -> ``server.properties`` in the working
directory if it exists, or the file named by ``-serverConfig`` (which must exist) -> command-line
values. Upstream looks next to the jar instead; a Python package has no such folder.
"""

from __future__ import annotations

import os
import re
import sys
from .logger import get_logger

# Every server.properties key with its shipped default (spec/config.md section 2), whose Python
# type is the key's type.
# Where upstream ships no value the code default is used; keys marked "blynklite" are ours.
DEFAULTS: dict[str, bool | int | str] = {
    # --- network
    "http.port": 8080,  # plain: hardware TCP, HTTP API, hardware WebSocket
    "https.port": 9443,  # TLS: app, hardware TLS, HTTPS API, admin
    "hardware.mqtt.port": 8440,  # MQTT hardware; 0 disables it (blynklite)
    "hardware.ssl.port": 8441,  # blynklite: TLS hardware port for old firmware; 0 disables it
    "listen.address": "",  # empty = all interfaces
    "server.host": "",  # empty = auto-detect from net.interface
    "net.interface": "eth",
    "force.port.80.for.csv": False,
    "force.port.80.for.redirect": True,
    "server.worker.threads": 2 * (os.cpu_count() or 1),  # upstream code default; unused here
    "region": "local",
    "restore.host": "blynk-cloud.com",
    # --- TLS and certificates
    "server.ssl.cert": "",
    "server.ssl.key": "",
    "server.ssl.key.pass": "",
    "latest.tls": False,  # only TLSv1.2 and TLSv1.3
    "contact.email": "",  # empty = mail.smtp.username (Let's Encrypt account)
    "renewal.disabled": False,
    "acme.directory.url": "https://acme-v02.api.letsencrypt.org/directory",  # blynklite: ACME server
    "acme.ca.file": "",  # blynklite: CA bundle to trust for the ACME server (private ACME, tests)
    "acme.key.type": "rsa",  # blynklite: rsa (2048, as upstream) or ec (P-256) for the keys
    # --- storage and logging
    "data.folder": "",  # empty = $STATE_DIRECTORY, else ~/.local/share/blynklite (blynklite)
    "logs.folder": "./logs",
    "log.level": "info",
    "log.console": False,  # blynklite: log lines to stderr (the journal) instead of logs.folder
    "log.file.max.size": 10,  # blynklite: MB; blynk.log is moved aside when it reaches this
    "log.total.max.size": 100,  # blynklite: MB that all moved-aside log files may take together
    "async.logger.ring.buffer.size": 2048,
    "profile.save.worker.period": 60000,  # ms
    "stats.print.worker.period": 60000,  # ms
    "enable.db": False,
    "enable.raw.db.data.store": False,
    "store.minute.record.days": 10,
    "store.export.csv.report.days": 45,
    "csv.export.data.points.max": 43200,
    # --- limits and quotas
    "user.devices.limit": 50,
    "user.tags.limit": 100,
    "user.dashboard.max.limit": 100,
    "user.widget.max.size.limit": 20,  # KB
    "user.profile.max.size": 256,  # KB
    "user.message.quota.limit": 100,  # messages/second per connection
    "notifications.frequency.user.quota.limit": 5,  # seconds
    "notifications.queue.limit": 2000,
    "blocking.processor.thread.pool.limit": 6,
    "webhooks.frequency.user.quota.limit": 1000,  # ms
    "webhooks.response.size.limit": 96,  # KB
    "webhooks.failure.count.limit": 10,
    "webhooks.timeout": 10000,  # ms for a whole webhook call, connect to last byte
    # never called by a webhook (checked on the resolved address); empty = allow every address
    "webhooks.deny.networks": "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8",
    "web.request.max.size": 524288,  # bytes
    "hard.socket.idle.timeout": 10,  # seconds (x 2.3 for devices)
    "app.socket.idle.timeout": 300,  # seconds
    "hourly.registrations.limit": 1000,
    "registration.limit.per.ip.hourly": 5,  # blynklite: registrations per source address an hour
    "login.failure.limit.per.ip": 10,  # blynklite: failed app logins from one address, then blocked
    "login.failure.limit.per.account": 5,  # blynklite: failed app logins for one account, then blocked
    "hardware.login.failure.limit.per.ip": 30,  # blynklite: bad device tokens from one address
    "login.block.seconds": 60,  # blynklite: first block; doubles with each further failure
    "login.block.max.seconds": 3600,  # blynklite: longest block; records are forgotten after this
    "terminal.strings.pool.size": 25,
    "map.strings.pool.size": 25,
    "lcd.strings.pool.size": 6,
    "table.rows.pool.size": 100,
    "initial.energy": 100000,
    # --- behaviour switches
    "allow.reading.widget.without.active.app": False,
    "allow.store.ip": True,
    "product.name": "Blynk",
    "vendor.email": "",
    "allowed.users.list": "",  # comma-separated e-mails allowed to register; empty = anyone
    # --- administration
    "admin.rootPath": "/admin",
    # Upstream ships 0.0.0.0/0,::/0 (the whole world); we ship loopback and private networks only.
    "allowed.administrator.ips": (
        "127.0.0.1/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    ),
    "admin.email": "admin@blynk.cc",
    "admin.pass": "",  # empty = generate a random password at first start
}

# String keys with a fixed set of values (log4j's level names, as upstream's file uses them).
CHOICES = {"log.level": ("trace", "debug", "info", "warn", "error", "fatal", "off", "all"),
           "acme.key.type": ("rsa", "ec")}

# Lowest allowed value of each port key; 0 means "do not listen" where allowed.
PORT_MINIMUM = {"http.port": 1, "https.port": 1, "hardware.mqtt.port": 0, "hardware.ssl.port": 0}

# Keys from old upstream files that 0.41 ignores, with the key that replaced them.
REPLACED_KEYS = {
    "https.cert": "server.ssl.cert",
    "https.key": "server.ssl.key",
    "https.key.pass": "server.ssl.key.pass",
}

# Command-line options that take a value: option -> server.properties key (None: a file path).
VALUE_OPTIONS: dict[str, str | None] = {
    "-hardPort": "http.port",
    "-appPort": "https.port",
    "-workerThreads": "server.worker.threads",
    "-dataFolder": "data.folder",
    "-serverConfig": None,
    "-mailConfig": None,
    "-smsConfig": None,
}

USAGE = """\
usage: python3 -m blynklite [options]            run the server
       python3 -m blynklite backup FILE [options]   archive the data folder (also while it runs)
       python3 -m blynklite restore FILE [--force] [options]   put an archive back (server stopped)

  -serverConfig PATH   server.properties to use (default: ./server.properties if present)
  -mailConfig PATH     mail.properties to use (default: ./mail.properties if present)
  -smsConfig PATH      sms.properties to use (default: ./sms.properties if present)
  -dataFolder PATH     sets data.folder: profiles, history, certificate (default: $STATE_DIRECTORY
                       under systemd, else ~/.local/share/blynklite)
  -hardPort N          sets http.port: plain hardware, HTTP API, landing page (default: 8080)
  -appPort N           sets https.port: TLS app, hardware, HTTPS API, admin (default: 9443)
  -workerThreads N     sets server.worker.threads
  -restore             load the users of this region from PostgreSQL instead of the data folder
  --version            print the version
  -h, --help           show this text

Logs go to ./logs/blynk.log (logs.folder), or to stderr with log.console=true. Every other setting is
described in server.properties.example.

examples:
  python3 -m blynklite -dataFolder ./data
  python3 -m blynklite -dataFolder /var/lib/blynklite -serverConfig /etc/blynklite/server.properties
  python3 -m blynklite backup blynk-backup.tar.gz -dataFolder ./data
"""



class ConfigError(Exception):
    """A value or option is wrong; the message names the key and where it came from."""


# ---------------------------------------------------------------- .properties format

_WHITESPACE = " \t\f"
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|u|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str, source: str = "<text>") -> dict[str, str]:
    """Parse Java ``.properties`` text the way ``java.util.Properties.load`` does.

    ``source`` only names the text in error messages (a malformed ``\\uXXXX`` escape).
    """
    result: dict[str, str] = {}
    lines = iter(re.split(r"\r\n|\r|\n", text))
    for line in lines:
        logical = line.lstrip(_WHITESPACE)
        if not logical or logical[0] in "#!":
            continue
        # A line ending in an odd number of backslashes continues on the next one,
        # whose leading whitespace is dropped. Comment lines never continue.
        while (len(logical) - len(logical.rstrip("\\"))) % 2 == 1:
            logical = logical[:-1] + next(lines, "").lstrip(_WHITESPACE)
        key, value = _split_key_value(logical)
        key = _unescape(key, source, key)
        result[key] = _unescape(value, source, key)
    return result


def _split_key_value(logical: str) -> tuple[str, str]:
    """The key ends at the first unescaped '=', ':' or whitespace; one separator may follow."""
    i = 0
    while i < len(logical) and logical[i] not in "=:" + _WHITESPACE:
        i += 2 if logical[i] == "\\" else 1
    key, rest = logical[:i], logical[i:].lstrip(_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_WHITESPACE)
    return key, rest


def _unescape(text: str, source: str, key: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape == "u":
            raise ConfigError(f"{source}: {key}: malformed \\uXXXX escape")
        if len(escape) == 5:
            return chr(int(escape[1:], 16))
        return _SIMPLE_ESCAPES.get(escape, escape)

    result = _ESCAPE.sub(replace, text)
    # Join UTF-16 surrogate pairs written as two \u escapes (emoji); a lone one becomes U+FFFD,
    # so the value can always be written back to the file.
    return result.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _read_properties(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # what Java's Properties.load(InputStream) assumes
    return parse_properties(text, path)


# ---------------------------------------------------------------- typed values


def _convert(key: str, text: str, origin: str, warn) -> bool | int | str | None:
    """The typed value of ``key=text``, or None when an empty value means "use the default"."""
    default = DEFAULTS.get(key)
    if default is None:
        if key in REPLACED_KEYS:
            warn(f"{origin}: {key} is ignored since upstream 0.41; use {REPLACED_KEYS[key]}")
        else:
            import difflib
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warn(f"{origin}: unknown key {key}{hint}; it is ignored")
        return text
    if isinstance(default, str):
        if key in CHOICES and text.strip().lower() not in CHOICES[key]:
            raise ConfigError(f"{origin}: {key}: {text!r} is not one of {', '.join(CHOICES[key])}")
        return text.strip().lower() if key in CHOICES else text
    value = text.strip()
    if not value:
        return None
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"{origin}: {key}: {text!r} is not true or false")
        return value.lower() == "true"
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise ConfigError(f"{origin}: {key}: {text!r} is not a whole number")
    number = int(value)
    if key in PORT_MINIMUM and not PORT_MINIMUM[key] <= number <= 65535:
        raise ConfigError(f"{origin}: {key}: {number} is not a port ({PORT_MINIMUM[key]}..65535)")
    if number < 0:
        raise ConfigError(f"{origin}: {key}: {number} must not be negative")
    return number


def _apply(values: dict, props: Mapping[str, object], origin: str, warn) -> None:
    for key, text in props.items():
        if not isinstance(text, str):  # typed overrides given to ServerConfig()
            text = str(text).lower() if isinstance(text, bool) else str(text)
        value = _convert(key, text, origin, warn)
        if value is not None:
            values[key] = value


# Keys whose feature blynklite does not have (yet), with what is missing: a value other than the
# default is named in a WARNING at start (lacking_features). Keys that only tune upstream's threads or
# logger (server.worker.threads, async.logger.ring.buffer.size) are not features and stay quiet.
LACKING_FEATURES = {
    "force.port.80.for.redirect": "blynklite runs as one server and sends no CONNECT_REDIRECT",
    "stats.print.worker.period": ("stats.log and the reporting_*_stat_minute rows are written only with "
                                  "enable.db; without it statistics are shown on the admin page only"),
}


def lacking_features(config) -> list:
    """One line per configured key (not at its default) whose feature blynklite lacks."""
    return [f"{key}={config.raw()[key]}: not supported by blynklite: {missing}"
            for key, missing in LACKING_FEATURES.items() if config[key] != DEFAULTS[key]]


def _default_warn(message: str) -> None:
    get_logger("blynklite").warning(message)


class ServerConfig:
    """Effective server settings; ``config["http.port"]`` is an int, booleans are bools.

    ``ServerConfig({"user.devices.limit": 2})`` gives the defaults with checked overrides (for
    tests, or to re-apply an edited server.properties: ``ServerConfig({**old.raw(), **new})``).
    """

    def __init__(
        self,
        overrides: Mapping[str, object] | None = None,
        *,
        source: str = "<defaults>",
        mail: dict[str, str] | None = None,
        sms: dict[str, str] | None = None,
        gcm: dict[str, str] | None = None,
        twitter: dict[str, str] | None = None,
        restore: bool = False,
        warn = _default_warn,
    ) -> None:
        self._values: dict[str, bool | int | str] = dict(DEFAULTS)
        _apply(self._values, overrides or {}, "overrides", warn)
        self.source = source
        self.mail = mail or {}
        self.sms = sms or {}
        self.gcm = gcm or {}
        self.twitter = twitter or {}
        self.restore = restore

    def __getitem__(self, key: str) -> bool | int | str:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str, default=None):
        return self._values.get(key, default)

    def update(self, props: Mapping[str, str], origin: str) -> list[str]:
        """Apply ``key=value`` strings all or nothing (ConfigError on a bad value); return warnings."""
        warnings: list[str] = []
        staged = dict(self._values)
        _apply(staged, props, origin, warnings.append)
        self._values = staged
        return warnings

    def raw(self) -> dict[str, str]:
        """Effective values as property strings (unknown keys included)."""
        return {
            key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in self._values.items()
        }

    def __repr__(self) -> str:
        return f"<ServerConfig from {self.source}>"


# ---------------------------------------------------------------- saving


def save_properties(path: str, changes: Mapping[str, str]) -> None:
    """Write ``changes`` into the properties file at ``path``, keeping its comments and order.

    A key already in the file has its line replaced; new keys are appended at the end.
    """
    from .storage.atomicfile import write_atomically

    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    pending = dict(changes)
    for i, line in enumerate(lines):
        stripped = line.lstrip(_WHITESPACE)
        if not stripped or stripped[0] in "#!":
            continue
        key = _split_key_value(stripped)[0]
        if key in pending:
            lines[i] = f"{key}={escape_value(pending.pop(key))}"
    lines += [f"{key}={escape_value(value)}" for key, value in pending.items()]
    write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"), 0o644)


def escape_value(value: str) -> str:
    """A value as a .properties line holds it, so that parse_properties gives it back unchanged."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\" + escaped if escaped[:1] in (" ", "\f") else escaped


# ---------------------------------------------------------------- loading


def _parse_argv(argv: list[str]) -> tuple[dict[str, str], bool]:
    options: dict[str, str] = {}
    restore = False
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg == "-restore":
            restore = True
        elif arg in VALUE_OPTIONS:
            value = next(args, None)
            if value is None or not value.strip() or value in VALUE_OPTIONS or value == "-restore":
                raise ConfigError(f"command line: {arg} needs a value")
            options[arg] = value
        else:
            raise ConfigError(f"command line: unknown option {arg!r} (see --help)")
    return options, restore


def _find_file(options: dict[str, str], option: str | None, name: str, cwd: str) -> str | None:
    """The file given by ``option`` (must exist), else ``name`` in cwd if it exists, else None."""
    if option in options:
        path = os.path.join(cwd, options[option])
        if not os.path.isfile(path):
            raise ConfigError(f"command line: {option}: Path {options[option]} not found.")
        return path
    path = os.path.join(cwd, name)
    return path if os.path.isfile(path) else None


def load_config(argv: list[str], cwd: str | None = None, warn=None) -> ServerConfig:
    """Build the configuration from ``argv`` (without the program name) and files in ``cwd``."""
    warn = warn or _default_warn
    cwd = os.getcwd() if cwd is None else cwd
    options, restore = _parse_argv(argv)

    server_path = _find_file(options, "-serverConfig", "server.properties", cwd)
    mail_path = _find_file(options, "-mailConfig", "mail.properties", cwd)
    sms_path = _find_file(options, "-smsConfig", "sms.properties", cwd)
    gcm_path = _find_file(options, None, "gcm.properties", cwd)
    twitter_path = _find_file(options, None, "twitter4j.properties", cwd)

    config = ServerConfig(
        source=server_path or "<defaults>",
        mail=_read_properties(mail_path) if mail_path else {},
        sms=_read_properties(sms_path) if sms_path else {},
        gcm=_read_properties(gcm_path) if gcm_path else {},
        twitter=_read_properties(twitter_path) if twitter_path else {},
        restore=restore,
    )
    if server_path:
        _apply(config._values, _read_properties(server_path), server_path, warn)
    for option, key in VALUE_OPTIONS.items():
        if key and option in options:
            _apply(config._values, {key: options[option]}, f"command line {option}", warn)
    return config
