"""`python3 -m blynklite [-dataFolder DIR] [-serverConfig FILE] ...`: run the server."""
import base64
import os
import signal
import sys
import time

from . import __version__
from .certs import CertificateError, server_tls
from .config import ConfigError, load_config
from .logfile import DailyLogFile
from .logger import CRITICAL, DEBUG, ERROR, INFO, OFF, WARNING, configure, get_logger

log = get_logger("blynklite")

# log4j level names (server.properties) → our levels
LOG_LEVELS = {"all": DEBUG, "trace": DEBUG, "debug": DEBUG, "info": INFO,
              "warn": WARNING, "error": ERROR, "fatal": CRITICAL,
              "off": OFF}


def main(argv=None):
    started = time.monotonic()
    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    log_path = setup_logging(config)
    data_folder = resolve_data_folder(config)
    try:
        tls = server_tls(config, data_folder, log)
    except CertificateError as error:
        log.error("%s", error)
        print(f"TLS error: {error}", file=sys.stderr)
        return 2
    from .server import Server
    server = Server(config, data_folder, tls)
    server.load_users()
    try:
        server.listen()
    except OSError as error:
        print(f"Cannot open the server ports: {error}", file=sys.stderr)
        log.error("cannot open the server ports: %s", error)
        return 2
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


def setup_logging(config):
    folder = config["logs.folder"] or "./logs"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "blynk.log")
    configure(DailyLogFile(path), LOG_LEVELS[config["log.level"]])
    return os.path.abspath(path)


def resolve_data_folder(config):
    folder = config["data.folder"]
    if not folder:
        import tempfile
        folder = os.path.join(tempfile.gettempdir(), "blynk")
        log.warning("data.folder is not set; profiles go to %s", folder)
    os.makedirs(folder, exist_ok=True)
    return os.path.abspath(folder)


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


def print_banner(server, log_path, data_folder, seconds, admin_line):
    ports = ", ".join(f"{listener.port} ({listener.port_kind})" for listener in server.listeners)
    # The first line is upstream's, word for word: scripts wait for it.
    lines = ["Blynk Server successfully started.",
             f"blynklite {__version__}. Listening on ports {ports}.",
             f"Data folder: {data_folder} ({len(server.hub.users)} users). Log file: {log_path}",
             f"Started in {seconds:.2f} s."]
    if admin_line:
        lines.append(admin_line)
    print("\n".join(lines), flush=True)
    log.info("%s", " ".join(lines[:3]))


def install_signal_handlers(server):
    def stop(signum, frame):
        server.reactor.stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


if __name__ == "__main__":
    sys.exit(main())
