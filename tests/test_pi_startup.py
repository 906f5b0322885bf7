"""Starting the server as a Pi owner does: the banner, the defaults, and the failures they can fix.

Each failure must be one `blynklite: ...` line on stderr naming the path or port and what to do, exit
status 2, and no traceback. The server runs as `python3 -m blynklite` in a subprocess from the source
tree, with HOME pointed at a temp folder so the persistent default data folder is a temp one too.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from blynklite import __version__
from blynklite.client import AppClient
from blynklite.codec.commands import Status
from conftest import RunningServer, free_ports

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 30.0     # s for a server that must fail at start to exit
WAIT = 5.0


def run_server(args, cwd, home, timeout=RUN_TIMEOUT):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(home))
    for name in ("XDG_DATA_HOME", "STATE_DIRECTORY"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "blynklite", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def properties(folder, **values):
    hw, app, hw_ssl = free_ports(3)
    values = {"http.port": hw, "https.port": app, "hardware.ssl.port": hw_ssl, "hardware.mqtt.port": 0,
              "listen.address": "127.0.0.1", "admin.pass": "admin-test-pass", **values}
    path = Path(folder) / "server.properties"
    path.write_text("".join(f"{k.replace('_', '.')}={v}\n" for k, v in values.items()))
    return path


def assert_one_clear_line(result, *words):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("blynklite: warning:")]
    assert len(lines) == 1 and lines[0].startswith("blynklite: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- loud failures -----------------------------------------------------------------------------------

def test_a_data_folder_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    config = properties(tmp_path, logs_folder=tmp_path / "logs")
    result = run_server(["-serverConfig", config, "-dataFolder", tmp_path / "data"], tmp_path, tmp_path)
    assert_one_clear_line(result, str(tmp_path / "data"), "is a file, not a folder", "-dataFolder")


def test_a_data_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("")
    config = properties(tmp_path, logs_folder=tmp_path / "logs")
    result = run_server(["-serverConfig", config, "-dataFolder", tmp_path / "file" / "data"], tmp_path, tmp_path)
    assert_one_clear_line(result, str(tmp_path / "file" / "data"), "cannot create data folder", "-dataFolder")


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder this process cannot write to: immutable for root (chmod does not stop root),
    mode 0500 for anyone else."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)],
                                                        capture_output=True).returncode != 0:
            pytest.skip("running as root and `chattr +i` is not possible here: no read-only folder")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)


def test_an_empty_read_only_data_folder_names_the_folder_not_cryptography(tmp_path, read_only_folder):
    config = properties(tmp_path, logs_folder=tmp_path / "logs")
    result = run_server(["-serverConfig", config, "-dataFolder", read_only_folder], tmp_path, tmp_path)
    line = assert_one_clear_line(result, str(read_only_folder), "not writable")
    assert "cryptography" not in line


def test_a_read_only_log_folder(tmp_path, read_only_folder):
    config = properties(tmp_path, logs_folder=read_only_folder)
    result = run_server(["-serverConfig", config, "-dataFolder", tmp_path / "data"], tmp_path, tmp_path)
    assert_one_clear_line(result, f"log folder {read_only_folder}", "not writable", "logs.folder")


def test_a_log_folder_that_is_a_file(tmp_path):
    (tmp_path / "logs").write_text("")
    config = properties(tmp_path, logs_folder=tmp_path / "logs")
    result = run_server(["-serverConfig", config, "-dataFolder", tmp_path / "data"], tmp_path, tmp_path)
    assert_one_clear_line(result, f"log folder {tmp_path / 'logs'}", "is a file", "logs.folder")


@pytest.mark.parametrize("key", ["http.port", "https.port"])
def test_a_port_in_use(tmp_path, key):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = properties(tmp_path, logs_folder=tmp_path / "logs", **{key.replace(".", "_"): port})
        result = run_server(["-serverConfig", config, "-dataFolder", tmp_path / "data"], tmp_path, tmp_path)
    assert_one_clear_line(result, f"127.0.0.1:{port} ({key})", "in use by another program")


def test_a_bad_setting(tmp_path):
    config = properties(tmp_path, http_port="eighty")
    result = run_server(["-serverConfig", config], tmp_path, tmp_path)
    assert_one_clear_line(result, "http.port", "'eighty'", "whole number")


# -- defaults, banner, --version and --help ---------------------------------------------------------

def test_version_and_help(tmp_path):
    version = run_server(["--version"], tmp_path, tmp_path)
    assert version.returncode == 0 and version.stdout.startswith(f"blynklite {__version__} "), version
    helped = run_server(["--help"], tmp_path, tmp_path)
    assert helped.returncode == 0, helped
    for text in ("-dataFolder", "~/.local/share/blynklite", "default", "backup FILE", "restore FILE",
                 "examples", "python3 -m blynklite -dataFolder"):
        assert text in helped.stdout, (text, helped.stdout)


class HomeServer(RunningServer):
    """A conftest server whose data.folder is left empty, so the persistent default is used, and whose
    HOME is a temp folder."""

    def __init__(self, workdir, home, state_directory=None, **extra):
        super().__init__(workdir, extra)
        del self.properties["data.folder"]
        self.home = home
        self.state_directory = state_directory

    def start(self):
        saved = {name: os.environ.get(name) for name in ("HOME", "XDG_DATA_HOME", "STATE_DIRECTORY")}
        os.environ["HOME"] = str(self.home)
        os.environ.pop("XDG_DATA_HOME", None)
        os.environ.pop("STATE_DIRECTORY", None)
        if self.state_directory:
            os.environ["STATE_DIRECTORY"] = str(self.state_directory)   # as systemd's StateDirectory= sets it
        try:
            return super().start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def test_without_data_folder_profiles_go_to_home_and_the_banner_says_where(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    server = HomeServer(tmp_path, home).start()
    try:
        default = home / ".local" / "share" / "blynklite"
        banner = server.banner
        assert f"Data folder: {default} " in banner, banner
        assert f"Log file: {tmp_path / 'logs' / 'blynk.log'}" in banner, banner
        assert f"TLS certificate for devices and apps: {default / 'blynklite-selfsigned.crt'}" in banner, banner
        assert f"Admin page: https://127.0.0.1:{server.app_port}/admin" in banner, banner
        with AppClient(server.host, server.app_port, timeout=WAIT) as app:
            assert app.register("pi@example.com", "secret") == Status.OK
    finally:
        server.stop()
    assert (default / "pi@example.com.Blynk.user").is_file()
    assert (default / "blynklite-selfsigned.crt").is_file()


def test_under_systemd_the_state_directory_is_the_default(tmp_path):
    state = tmp_path / "var-lib-blynklite"
    state.mkdir()
    server = HomeServer(tmp_path, tmp_path / "home", state_directory=state).start()
    try:
        assert f"Data folder: {state} " in server.banner, server.banner
    finally:
        server.stop()
    assert (state / "admin@blynk.cc.Blynk.user").is_file()
    assert not (tmp_path / "home" / ".local").exists()


def test_a_data_folder_in_the_temp_folder_is_warned_about_on_the_console(server):
    assert "which Debian 13 and Raspberry Pi OS empty at reboot" in server.banner, server.banner
    assert str(server.data_dir) in server.banner


# -- errors after the start, console logging ------------------------------------------------------

def wait_for_line(server, pattern, timeout=WAIT + 5):
    """The first console line after the banner that matches `pattern`, within `timeout`."""
    import threading
    found = []

    def read():
        for line in server.process.stdout:
            if re.search(pattern, line):
                found.append(line)
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


def test_an_error_after_the_start_reaches_the_console_too(server):
    # a folder where the profile file should be: the save cannot rename its temp file over it
    (server.data_dir / "late@example.com.Blynk.user").mkdir()
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.register("late@example.com", "secret") == Status.OK
    line = wait_for_line(server, r"ERROR .*could not save .*late@example.com")
    assert line is not None, server.log_text()[-2000:]
    assert line.rstrip("\n") in server.log_text()      # the same line as in the log file


def test_console_mode_logs_to_stderr_and_writes_no_log_file(make_server):
    server = make_server(log_console="true")
    assert "Log file: stderr" in server.banner, server.banner
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.register("journal@example.com", "secret") == Status.OK
    assert wait_for_line(server, r"INFO +blynklite - Blynk Server successfully started") is not None
    assert wait_for_line(server, r"INFO .*Registered journal@example.com") is not None
    assert not (server.logs_dir / "blynk.log").exists()
