"""The client's help as a newcomer reads it: every option with its default, examples, the exit statuses,
and each subcommand's own example; `--version`. Run as a user runs it (a subprocess)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blynklite import __version__
from blynklite.client import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0


def client(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BLYNK_PASSWORD="not-in-the-help")
    return subprocess.run([sys.executable, "-m", "blynklite.client", *args], capture_output=True, text=True,
                          env=env, timeout=TIMEOUT)


def test_help_shows_defaults_examples_and_exit_statuses():
    result = client("--help")
    assert result.returncode == 0, result
    for text in ("(default: 127.0.0.1)", "(default: 9443)", "(default: 10)", "(default: $BLYNK_EMAIL)",
                 "examples", "new-device Kitchen", "write V1 42", "exit status", "stored for an offline device"):
        assert text in result.stdout, (text, result.stdout)
    assert "not-in-the-help" not in result.stdout          # a password from the environment stays hidden


@pytest.mark.parametrize("name", [row[0] for row in SUBCOMMANDS])
def test_each_subcommand_has_an_example(name):
    result = client(name, "--help")
    assert result.returncode == 0 and "\nexample:\n" in result.stdout, result
    example = result.stdout.split("\nexample:\n", 1)[1]
    assert "python3 -m blynklite.client " in example and name in example, example


def test_version():
    result = client("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"blynklite client {__version__}", result
