"""README.md as a newcomer uses it: exactly one command runs the server and one runs the tests, `.ci/run`
ends with that same test command, and the Python device example runs unchanged (but for the address,
port and token) against a real server and receives a write from the command-line client."""
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLE_TOKEN = "08E5_85hpamzqNmE9R3Xrl2BrVYFErxd"
WAIT = 20.0


def section(title):
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def commands(text):
    return [line[4:] for line in text.splitlines() if line.startswith("    ") and line.strip()]


def test_one_command_runs_the_server_and_one_the_tests_and_ci_runs_that_one():
    assert commands(section("Run the server")) == ["python3 -m blynklite -dataFolder ./data"]
    test_commands = commands(section("Run the tests"))
    assert len(test_commands) == 1 and "venv" in test_commands[0], test_commands
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == test_commands[0], (ci[-1], test_commands[0])


def python_example():
    match = re.search(r"A Python device with `blynklib`.*?\n\n((?:    .*\n|\n)+)", README)
    assert match, "README has no Python device example"
    return textwrap.dedent(match.group(1))


def test_the_python_device_example_gets_a_write_from_the_client(server, tmp_path):
    with AppClient(server.host, server.app_port) as app:
        assert app.register("readme@example.com", "secret") == Status.OK
        assert app.login("readme@example.com", "secret") == Status.OK
        dash_id, device_id, token = app.new_device("Readme")
    code = (python_example().replace(EXAMPLE_TOKEN, token).replace('"192.168.1.10"', repr(server.host))
            .replace("port=8080", f"port={server.hw_port}")
            .replace("while True:", "import sys, time\nend = time.monotonic() + 15\nwhile time.monotonic() < end:"))
    assert token in code and str(server.hw_port) in code
    code = code.replace('print("V1 =", values[0])', 'print("V1 =", values[0], flush=True); sys.exit(0)')
    script = tmp_path / "device.py"
    script.write_text(code)
    device = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and device.poll() is None:
            with AppClient(server.host, server.app_port) as app:
                assert app.login("readme@example.com", "secret") == Status.OK
                app.write(dash_id, device_id, "V1", "42")
                app.request(Command.PING)      # the write has been handled
            time.sleep(0.5)
        output, _ = device.communicate(timeout=WAIT)
    finally:
        if device.poll() is None:
            device.kill()
            device.communicate(timeout=5)
    assert "V1 = 42" in output, output
