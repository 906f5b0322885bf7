"""The server under every CPython from 3.9 on that this machine has (Raspberry Pi OS Bullseye ships 3.9).

For each interpreter found (pyenv's versions folder, /usr/bin/python3.N, /usr/local/bin/python3.N), the
server runs from the source tree with that interpreter (the core is standard library only); a device
logs in over the real hardware protocol, writes a pin, and the value is read back over HTTP. Every
module of the package must also import under each of them (a `X | None` evaluated at import time
breaks 3.9). The oldest and the newest found must be 3.9 and at least 3.13 on the CI image, else the
test says which are missing.
"""
import glob
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from blynklite.codec.commands import Command, Status
from blynklite.client import AppClient
from conftest import RunningServer
from devices import RawClient, body

ROOT = Path(__file__).resolve().parents[1]
OLDEST_SUPPORTED = (3, 9)     # setup.py python_requires
NEWEST_EXPECTED = (3, 13)     # the newest CPython on the CI machine image
RUN_TIMEOUT = 60.0            # s for one interpreter to import every module
HTTP_TIMEOUT = 5.0


def interpreter_candidates():
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    patterns = [os.path.join(pyenv_root, "versions", "3.*", "bin", "python3"),
                "/usr/bin/python3.[0-9]*", "/usr/local/bin/python3.[0-9]*"]
    return sorted({path for pattern in patterns for path in glob.glob(pattern)
                   if re.search(r"python3(\.\d+)?$", path) and os.access(path, os.X_OK)})


def version_of(path):
    try:
        out = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True,
                             text=True, timeout=RUN_TIMEOUT).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(int(x) for x in out) if len(out) == 3 else None


def supported_interpreters():
    """{(major, minor): path}, one interpreter per minor version from 3.9 on, the running one included."""
    found = {tuple(sys.version_info[:2]): sys.executable}
    for path in interpreter_candidates():
        version = version_of(path)
        if version and version[:2] >= OLDEST_SUPPORTED:
            found.setdefault(version[:2], path)
    return dict(sorted(found.items()))


INTERPRETERS = supported_interpreters()
IDS = [f"py{major}.{minor}" for major, minor in INTERPRETERS]


def test_the_oldest_and_newest_supported_pythons_are_here():
    versions = list(INTERPRETERS)
    assert versions[0] == OLDEST_SUPPORTED and versions[-1] >= NEWEST_EXPECTED, (
        f"found {versions} in {interpreter_candidates()}: the smoke tests need Python "
        f"{'.'.join(map(str, OLDEST_SUPPORTED))} and {'.'.join(map(str, NEWEST_EXPECTED))} or newer")


@pytest.mark.parametrize("python", list(INTERPRETERS.values()), ids=IDS)
def test_every_module_imports(python):
    code = ("import importlib, pkgutil, blynklite\n"
            "failed = []\n"
            "for m in pkgutil.walk_packages(blynklite.__path__, 'blynklite.'):\n"
            "    try:\n"
            "        importlib.import_module(m.name)\n"
            "    except ImportError as e:\n"
            "        if getattr(e, 'name', '') and not e.name.startswith('blynklite'):\n"
            "            continue  # an optional extra (cryptography, psycopg2) this interpreter lacks\n"
            "        failed.append(f'{m.name}: {e!r}')\n"
            "    except Exception as e:\n"
            "        failed.append(f'{m.name}: {e!r}')\n"
            "print('\\n'.join(failed))\n")
    result = subprocess.run([python, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


class ServerWith(RunningServer):
    """The conftest server, run by another interpreter."""

    def __init__(self, workdir, python):
        super().__init__(workdir)
        self.python = python

    def start(self):
        real = sys.executable
        sys.executable = self.python      # RunningServer.start runs `sys.executable -m blynklite`
        try:
            return super().start()
        finally:
            sys.executable = real


@pytest.mark.parametrize("python", list(INTERPRETERS.values()), ids=IDS)
def test_a_device_writes_and_http_reads_it_back(python, tmp_path):
    server = ServerWith(tmp_path, python).start()
    try:
        token = create_device(server)
        with RawClient(server.host, server.hw_port) as device:
            assert device.login(token) == Status.OK
            device.send(Command.HARDWARE, body("vw", 7, "from-py"), msg_id=2)
            device.barrier()
            url = f"http://{server.host}:{server.hw_port}/{token}/get/V7"
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as reply:
                assert json.loads(reply.read()) == ["from-py"]
        version = subprocess.run([python, "-m", "blynklite", "--version"], capture_output=True, text=True,
                                 cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=RUN_TIMEOUT)
        major, minor = next(v for v, p in INTERPRETERS.items() if p == python)
        assert f"Python {major}.{minor}." in version.stdout, version
    finally:
        server.stop()


def create_device(server):
    with AppClient(server.host, server.app_port) as app:
        assert app.register("pi@example.com", "secret") == Status.OK
        assert app.login("pi@example.com", "secret") == Status.OK
        _, _, token = app.new_device("Pi")
    return token
