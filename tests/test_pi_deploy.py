"""deploy/blynklite.service and the Pi guide's set-up, run for real as far as a test can without root
changes to the machine: the unit passes `systemd-analyze verify`, its ExecStart (with the install paths
moved into a temp folder) starts a server configured by the guide's own `sed` line, whose console output
(the journal under systemd) shows the banner and the log, and a SIGTERM stops it cleanly."""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from blynklite.__main__ import EXIT_USAGE
from conftest import free_ports

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "blynklite.service"
GUIDE = ROOT / "docs" / "raspberry-pi.md"
VENV_PYTHON = "/opt/blynklite/.venv/bin/python"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def unit_settings():
    settings = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#") and not line.startswith("["):
            key, value = line.split("=", 1)
            settings.setdefault(key, value)
    return settings


def test_the_unit_is_what_the_guide_promises():
    unit = unit_settings()
    assert unit["User"] == "blynklite" and unit["Restart"] == "on-failure"
    assert unit["RestartPreventExitStatus"] == str(EXIT_USAGE)
    assert f"-dataFolder /var/lib/{unit['StateDirectory']}" in unit["ExecStart"]
    assert unit["ExecStart"].startswith(f"{VENV_PYTHON} -m blynklite ")
    assert unit["StandardOutput"] == unit["StandardError"] == "journal"
    assert "deploy/blynklite.service" in GUIDE.read_text()


def unit_for_this_machine(tmp_path):
    text = UNIT.read_text().replace(VENV_PYTHON, sys.executable)
    path = tmp_path / "blynklite.service"
    path.write_text(text)
    return path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    result = subprocess.run(["systemd-analyze", "verify", str(unit_for_this_machine(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result


def guide_properties(tmp_path):
    """/etc/blynklite/server.properties as the guide makes it: the example, edited by its sed line."""
    edit = re.search(r"sudo sed -i '([^']+)' /etc/blynklite/server.properties", GUIDE.read_text())
    assert edit, "the guide no longer edits server.properties with sed"
    path = tmp_path / "server.properties"
    shutil.copy(ROOT / "server.properties.example", path)
    subprocess.run(["sed", "-i", edit.group(1).replace("192.168.1.10", "127.0.0.1"), str(path)], check=True)
    hw, app, hw_ssl = free_ports(3)
    with open(path, "a") as f:       # ports free on this machine; everything else as the guide leaves it
        f.write(f"http.port={hw}\nhttps.port={app}\nhardware.ssl.port={hw_ssl}\nhardware.mqtt.port=0\n"
                f"listen.address=127.0.0.1\n")
    return path


def test_the_units_command_starts_a_server_that_logs_to_the_journal(tmp_path):
    state = tmp_path / "var-lib-blynklite"
    state.mkdir(mode=0o700)
    config = guide_properties(tmp_path)
    command = unit_settings()["ExecStart"].replace(VENV_PYTHON, sys.executable)
    command = command.replace("/var/lib/blynklite", str(state)).replace("/etc/blynklite/server.properties",
                                                                          str(config))
    env = dict(os.environ, PYTHONPATH=str(ROOT), STATE_DIRECTORY=str(state))
    process = subprocess.Popen(command.split(), cwd=state, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not any(line.startswith("Started in") for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        deadline = time.monotonic() + START_TIMEOUT
        while not any(re.search(r" INFO +blynklite - Blynk Server successfully started", l) for l in lines):
            assert time.monotonic() < deadline, "no log line on the console: " + "".join(lines)
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
    output = "".join(lines)
    assert code == 0, output
    assert f"Data folder: {state} " in output and "Log file: stderr" in output
    assert f"TLS certificate for devices and apps: {state / 'blynklite-selfsigned.crt'}" in output
    assert "Admin page: https://127.0.0.1:" in output and "Administrator account: admin@blynk.cc" in output
    assert not (state / "logs").exists() and "Traceback" not in output
