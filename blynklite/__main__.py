"""`python3 -m blynklite [options]`: run the server; `backup FILE` / `restore FILE`: its data folder.

What it owns: the start-up sequence (configuration, log, data folder, certificate, ports, the first
administrator, the banner), the signals that stop the server, and the subcommands table.
What it never does: serve anything itself; server.py wires the parts, storage/backup.py archives.

Invariant: every way the start can fail for a reason the user can fix (a bad setting, a data or log
folder that is a file or not writable, a port in use) ends in one `blynklite: ...` line on stderr that
names the path or port and what to do, and exit status 2, never a traceback. After the banner, errors
still reach stderr (logger.ECHO_LEVEL), so the console or the journal shows them.
"""
import base64
import errno
import os
import signal
import socket
import sys
import time

from . import __version__
from .certs import CertificateError, server_tls
from .config import ConfigError, lacking_features, load_config
from .logger import CRITICAL, DEBUG, ECHO_LEVEL, ERROR, INFO, OFF, WARNING, StreamSink, configure, get_logger

log = get_logger("blynklite")

# log4j level names (server.properties) → our levels
LOG_LEVELS = {"all": DEBUG, "trace": DEBUG, "debug": DEBUG, "info": INFO,
              "warn": WARNING, "error": ERROR, "fatal": CRITICAL,
              "off": OFF}
EXIT_USAGE = 2  # what argparse and upstream's start script use for "fix the command or the settings"
LOG_FILE_NAME = "blynk.log"
# Where profiles go without -dataFolder: a folder that survives a reboot (the temp folder does not on
# Debian 13 and Raspberry Pi OS). systemd's StateDirectory= names the service's own folder.
DATA_FOLDER_NAME = "blynklite"
# The ports the server opens, in the order server.listen() opens them, for naming one that failed.
PORT_KEYS = ("http.port", "https.port", "hardware.ssl.port", "hardware.mqtt.port")


class StartupError(Exception):
    """A start-up problem the user can fix; the message names the path or port and what to do."""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    if "--version" in argv or "-version" in argv:
        print(f"blynklite {__version__} (Blynk server 0.41 protocol), Python {sys.version.split()[0]}")
        return 0
    try:
        return run_server(argv)
    except (ConfigError, StartupError, CertificateError) as error:
        return fail(error)


def fail(error):
    print(f"blynklite: {error}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def run_server(argv):
    started = time.monotonic()
    config = load_config(argv)
    log_path = setup_logging(config)
    data_folder = usable_folder(data_folder_of(config), "data folder", DATA_FOLDER_HINT)
    warn_if_temporary(data_folder)
    for message in lacking_features(config):
        log.warning("%s", message)
    tls = server_tls(config, data_folder, log)
    from .server import Server
    server = Server(config, data_folder, tls)
    server.load_users()
    listen(server, config)
    admin_line = ensure_admin(server, config)
    print_banner(server, log_path, data_folder, time.monotonic() - started, admin_line)
    install_signal_handlers(server)
    try:
        server.reactor.run()
    finally:
        log.info("shutting down")
        unsaved = server.shutdown()
    if unsaved:   # server.shutdown() already logged each one with its reason
        names = ", ".join(sorted(u.email for u in unsaved))
        log.error("stopped; %d profiles could not be saved: %s", len(unsaved), names)
        return 1
    log.info("stopped; profiles saved")
    return 0


# -- folders -------------------------------------------------------------------------------------

DATA_FOLDER_HINT = "start with -dataFolder PATH (or set data.folder) naming a folder this user can write"
LOG_FOLDER_HINT = ("set logs.folder in server.properties to a folder this user can write, "
                   "or log.console=true to log to stderr")


def setup_logging(config):
    """The log file (or stderr with log.console=true); returns its absolute path, or "stderr"."""
    level = LOG_LEVELS[config["log.level"]]
    if config.get("log.console"):
        configure(StreamSink(), level)
        return "stderr"
    folder = usable_folder(config["logs.folder"] or "./logs", "log folder", LOG_FOLDER_HINT)
    path = os.path.join(folder, LOG_FILE_NAME)
    if os.path.isdir(path):
        raise StartupError(f"log file {path} is a folder: remove it, or {LOG_FOLDER_HINT}")
    from .logfile import DailyLogFile
    megabyte = 1024 * 1024
    log_file = DailyLogFile(path, max_bytes=config["log.file.max.size"] * megabyte,
                            total_bytes=config["log.total.max.size"] * megabyte)
    configure(log_file, level, echo_level=ECHO_LEVEL)
    return path


def data_folder_of(config):
    """The data folder the settings name, or the persistent default (not created here)."""
    return config["data.folder"] or default_data_folder()


def default_data_folder():
    """systemd's $STATE_DIRECTORY, else $XDG_DATA_HOME/blynklite, else ~/.local/share/blynklite."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return state
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, DATA_FOLDER_NAME)


def usable_folder(folder, what, hint):
    """`folder` as an absolute path, created if missing and checked writable; else StartupError."""
    folder = os.path.abspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise StartupError(f"{what} {folder} is a file, not a folder: {hint}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise StartupError(f"cannot create {what} {folder}: {error.strerror}: {hint}") from None
    probe = os.path.join(folder, f".blynklite-write-test-{os.getpid()}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as error:
        raise StartupError(f"{what} {folder} is not writable ({error.strerror}): {hint}") from None
    return folder


def warn_if_temporary(data_folder):
    import tempfile
    temp = os.path.realpath(tempfile.gettempdir())
    if os.path.realpath(data_folder).startswith(temp + os.sep):
        message = (f"the data folder {data_folder} is in {temp}, which Debian 13 and Raspberry Pi OS empty "
                   f"at reboot: for profiles that last, start with -dataFolder PATH outside it")
        log.warning("%s", message)
        print(f"blynklite: warning: {message}", file=sys.stderr, flush=True)


# -- ports, administrator, banner ----------------------------------------------------------------

def listen(server, config):
    try:
        server.listen()
    except OSError as error:
        opened = {listener.port for listener in server.listeners}
        for listener in server.listeners:
            listener.close()
        key = next((k for k in PORT_KEYS if config.get(k) and config[k] not in opened), "http.port")
        raise StartupError(port_problem(error, key, config[key], config["listen.address"])) from None


def port_problem(error, key, port, address):
    where = f"{address}:{port} ({key})" if address else f"{port} ({key})"
    if error.errno == errno.EADDRINUSE:
        return (f"port {where} is in use by another program (another blynklite or a Java Blynk server?): "
                f"stop it, or choose another {key} in server.properties")
    if error.errno == errno.EACCES:
        return (f"port {where}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE: "
                f"choose a port above 1023 for {key}")
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(error, socket.gaierror):
        return (f"cannot listen on {where}: listen.address {address!r} is not an address of this machine "
                f"({error.strerror or error}): leave listen.address empty to listen on all")
    return f"cannot listen on {where}: {error.strerror or error}"


def ensure_admin(server, config):
    """Create the super-admin at first start (behaviours.md §12); a random password is shown once."""
    if any(u.is_super_admin for u in server.hub.users.values()):
        return None
    email = config["admin.email"].strip().lower()
    if server.hub.get_user(email, "Blynk") is not None:
        return None
    from .passwords import password_hash
    password = config["admin.pass"] or base64.urlsafe_b64encode(os.urandom(18)).decode()
    user = server.hub.create_user(email, "Blynk", password_hash(password, email), server.reactor.wall_ms)
    user.is_super_admin = True
    server.save_changed(synchronous=True)
    log.info("created the administrator account %s", email)
    if config["admin.pass"]:
        return f"Administrator account: {email} (password from admin.pass)"
    return f"Administrator account: {email}  password: {password}  (shown once; change it)"


def banner_lines(server, log_path, data_folder, seconds):
    config = server.config
    ports = ", ".join(f"{listener.port} ({listener.port_kind})" for listener in server.listeners)
    host = server.public_host()
    # The first line is upstream's, word for word: scripts wait for it; "Started in" ends the banner.
    lines = ["Blynk Server successfully started.",
             f"blynklite {__version__}. Listening on ports {ports}.",
             f"Data folder: {data_folder} ({len(server.hub.users)} users). Log file: {log_path}"]
    if server.tls.cert_path:
        lines.append(f"TLS certificate for devices and apps: {server.tls.cert_path}"
                     + ("" if config["server.host"] else " (set server.host to this machine's LAN address and "
                        "delete the certificate, so that a new one covers that address)"))
    lines += [f"Admin page: https://{host}:{config['https.port']}{config['admin.rootPath']}",
              f"Started in {seconds:.2f} s."]
    return lines


def print_banner(server, log_path, data_folder, seconds, admin_line):
    lines = banner_lines(server, log_path, data_folder, seconds)
    if admin_line:
        lines.append(admin_line)
    print("\n".join(lines), flush=True)
    log.info("%s", " ".join(lines[:3]))


def install_signal_handlers(server):
    def stop(signum, frame):
        server.reactor.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


# -- subcommands ---------------------------------------------------------------------------------

def backup_command(argv):
    """`backup FILE [options]`: archive the data folder, also while the server runs."""
    from .storage import backup
    return backup.command_line("backup", argv, data_folder_of, fail)


def restore_command(argv):
    """`restore FILE [--force] [options]`: unpack an archive into a stopped server's data folder."""
    from .storage import backup
    return backup.command_line("restore", argv, data_folder_of, fail)


SUBCOMMANDS = {"backup": backup_command, "restore": restore_command}


if __name__ == "__main__":
    sys.exit(main())
