"""`python3 -m blynklite backup FILE` while the server runs under write load, and `restore` into a stopped
server's folder, run as a user runs them (subprocesses), against real servers on loopback.

"Acknowledged" here means what the server has made durable: a profile change is on disk once a save
has written it (profile.save.worker.period); the test waits until the files hold the values before the
load and the backups start, so every one of them must come back after a restore.
"""
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status
from conftest import free_ports
from devices import RawClient, body, wait_until

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 60.0
WAIT = 10.0
SAVE_PERIOD_MS = 50       # saves (temp file + rename) as often as the server allows: many renames mid-copy
DEVICES = 4
QUOTA = 1_000_000         # messages/s per connection: the load device writes without pause
BACKUPS = 3
EMAIL, PASSWORD = "pi@example.com", "secret"


def blynklite(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "blynklite", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


def a_free_port():
    return free_ports(1)[0]


def profile_text(server):
    path = server.data_dir / f"{EMAIL}.Blynk.user"
    return path.read_text(errors="replace") if path.exists() else ""


def http_get(server, token, pin):
    url = f"http://{server.host}:{server.hw_port}/{token}/get/{pin}"
    with urllib.request.urlopen(url, timeout=WAIT) as reply:
        return json.loads(reply.read())


class WriteLoad:
    """A device writing V2 without pause and an app adding devices, until stopped."""

    def __init__(self, server, token):
        self.server, self.token = server, token
        self.stopping = threading.Event()
        self.writes = self.devices_added = 0
        self.errors = []
        self.threads = [threading.Thread(target=self._device, daemon=True),
                        threading.Thread(target=self._app, daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(WAIT)

    def _device(self):
        try:
            with RawClient(self.server.host, self.server.hw_port) as device:
                assert device.login(self.token) == Status.OK
                while not self.stopping.is_set():
                    self.writes += 1
                    device.send(Command.HARDWARE, body("vw", 2, self.writes), msg_id=self.writes % 60000 + 1)
                    if self.writes % 100 == 0:
                        device.barrier()
        except Exception as error:  # reported by the test, not lost in a thread
            self.errors.append(repr(error))

    def _app(self):
        try:
            with AppClient(self.server.host, self.server.app_port, timeout=WAIT) as app:
                assert app.login(EMAIL, PASSWORD) == Status.OK
                while not self.stopping.is_set() and self.devices_added < 50:
                    app.new_device(f"load-{self.devices_added}")
                    self.devices_added += 1
                    time.sleep(0.02)
        except Exception as error:
            self.errors.append(repr(error))


def acknowledged_devices(server):
    """DEVICES devices, each logged in once and written V1 = ack-<n>; returns {token: value} once the
    profile on disk holds every value."""
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.register(EMAIL, PASSWORD) == Status.OK
        assert app.login(EMAIL, PASSWORD) == Status.OK
        tokens = [app.new_device(f"sensor-{n}")[2] for n in range(DEVICES)]
    values = {}
    for n, token in enumerate(tokens):
        with RawClient(server.host, server.hw_port) as device:
            assert device.login(token) == Status.OK
            device.send(Command.HARDWARE, body("vw", 1, f"ack-{n}"), msg_id=2)
            device.barrier()
        values[token] = f"ack-{n}"
    wait_until(lambda: all(t in profile_text(server) and v in profile_text(server) for t, v in values.items()),
               "the profile file holds every device and value")
    return values


def test_a_backup_taken_under_write_load_restores_to_a_working_server(make_server, tmp_path):
    server = make_server(profile_save_worker_period=SAVE_PERIOD_MS, user_message_quota_limit=QUOTA)
    acknowledged = acknowledged_devices(server)
    certificate = (server.data_dir / "blynklite-selfsigned.crt").read_bytes()
    archives = []
    with WriteLoad(server, next(iter(acknowledged))) as load:
        for n in range(BACKUPS):
            wait_until(lambda: load.writes > (n + 1) * 200 or load.errors, "the load to write")
            archive = tmp_path / f"backup-{n}.tar.gz"
            result = blynklite("backup", archive, "-dataFolder", server.data_dir, cwd=tmp_path)
            assert result.returncode == 0 and result.stderr == "", result
            assert result.stdout.startswith("backup: ") and str(archive) in result.stdout, result.stdout
            archives.append(archive)
    assert not load.errors, load.errors
    assert load.devices_added > 0 and load.writes > BACKUPS * 200

    for archive in archives:        # no member is half-written
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            assert f"blynklite-data/{EMAIL}.Blynk.user" in names, names
            assert not [n for n in names if n.endswith(".tmp")], names
            for member in tar.getmembers():
                if member.name.endswith(".user") or ".user." in member.name:
                    json.loads(tar.extractfile(member).read())

    server.stop()
    restored_folder = tmp_path / "restored"
    result = blynklite("restore", archives[-1], "-dataFolder", restored_folder, "-hardPort", a_free_port(),
                       cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("restore: "), result
    assert (restored_folder / "blynklite-selfsigned.crt").read_bytes() == certificate
    assert oct((restored_folder / f"{EMAIL}.Blynk.user").stat().st_mode & 0o777) == oct(0o600)

    restored = make_server(data_folder=restored_folder)
    assert "(2 users)" in restored.banner, restored.banner       # the account and the administrator
    for token, value in acknowledged.items():
        with RawClient(restored.host, restored.hw_port) as device:
            assert device.login(token) == Status.OK
        assert http_get(restored, token, "V1") == [value]


def write_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_restore_refuses_a_folder_that_holds_files_unless_forced(tmp_path):
    archive = tmp_path / "backup.tar.gz"
    write_tar(archive, {"blynklite-data/new@example.com.Blynk.user": b"{}"})
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "old@example.com.Blynk.user").write_text("{}")
    port = a_free_port()

    refused = blynklite("restore", archive, "-dataFolder", folder, "-hardPort", port, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == "", refused
    assert refused.stderr.startswith(f"blynklite: data folder {folder} is not empty") and "--force" in refused.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["old@example.com.Blynk.user"]

    forced = blynklite("restore", archive, "-dataFolder", folder, "-hardPort", port, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced
    assert sorted(p.name for p in folder.iterdir()) == ["new@example.com.Blynk.user"]


def test_restore_refuses_while_the_server_runs(server, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    result = blynklite("backup", archive, "-dataFolder", server.data_dir, cwd=tmp_path)
    assert result.returncode == 0, result
    config = server.workdir / "server.properties"
    refused = blynklite("restore", archive, "-serverConfig", config, "--force", cwd=tmp_path)
    assert refused.returncode == 2, refused
    assert f"a server answers on port {server.hw_port}" in refused.stderr and "stop it" in refused.stderr


def test_restore_rejects_an_archive_that_is_not_a_backup(tmp_path):
    folder = tmp_path / "data"
    port = a_free_port()
    escaping = tmp_path / "escaping.tar.gz"
    write_tar(escaping, {"blynklite-data/../../evil": b"x"})
    result = blynklite("restore", escaping, "-dataFolder", folder, "-hardPort", port, cwd=tmp_path)
    assert result.returncode == 2 and "not a blynklite backup" in result.stderr, result
    assert not (tmp_path / "evil").exists() and not any(folder.iterdir() if folder.exists() else ())

    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive at all")
    result = blynklite("restore", garbage, "-dataFolder", folder, "-hardPort", port, cwd=tmp_path)
    assert result.returncode == 2 and "not a blynklite backup" in result.stderr, result
    assert "Traceback" not in result.stderr


def test_backup_names_a_missing_data_folder_and_a_file_inside_it(tmp_path):
    missing = blynklite("backup", tmp_path / "b.tar.gz", "-dataFolder", tmp_path / "nothing", cwd=tmp_path)
    assert missing.returncode == 2 and f"data folder {tmp_path / 'nothing'} does not exist" in missing.stderr
    (tmp_path / "data").mkdir()
    inside = blynklite("backup", tmp_path / "data" / "b.tar.gz", "-dataFolder", tmp_path / "data", cwd=tmp_path)
    assert inside.returncode == 2 and "is inside the data folder" in inside.stderr, inside
    assert not (tmp_path / "b.tar.gz").exists()


def test_history_files_are_cut_to_whole_records_and_temp_files_left_out(tmp_path):
    data = tmp_path / "data"
    (data / "data" / EMAIL).mkdir(parents=True)
    history = data / "data" / EMAIL / "history_1-0_v1_minute.bin"
    history.write_bytes(bytes(16 * 3 + 5))                       # 3 records and a torn one
    (data / f".{EMAIL}.Blynk.user.123-4.tmp").write_text("{half")
    (data / "ota").mkdir()
    (data / "ota" / "firmware.bin").write_bytes(bytes(21))      # not a record file: kept whole
    archive = tmp_path / "b.tar.gz"
    assert blynklite("backup", archive, "-dataFolder", data, cwd=tmp_path).returncode == 0
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [f"blynklite-data/data/{EMAIL}/history_1-0_v1_minute.bin",
                                  "blynklite-data/ota/firmware.bin"]
        assert tar.getmember(tar.getnames()[0]).size == 16 * 3
        assert tar.getmember(tar.getnames()[1]).size == 21


def test_help_and_a_missing_file_argument(tmp_path):
    helped = blynklite("restore", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--force" in helped.stdout and "examples:" in helped.stdout, helped
    missing = blynklite("backup", "-dataFolder", tmp_path, cwd=tmp_path)
    assert missing.returncode == 2 and "FILE is missing" in missing.stderr, missing
