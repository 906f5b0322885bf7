"""Idle memory: an idle server does not load what only rare commands need (handlers/first_use.py).

A real server runs with PYTHONPROFILEIMPORTTIME=1, so its console lists every module it imports as it
imports it: the rarely used handler modules and the standard modules only they need are absent up to
the start-up banner, and a rare command's module is imported when that command first arrives (and
answers as before). The lazy table entries are checked against the modules' own HANDLERS tables."""
import importlib
import json
import re

import pytest

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status
from blynklite.handlers.app import AppSession
from blynklite.handlers.first_use import FirstUse
from blynklite.sessions.share import ShareSession
from devices import PASSWORD, WAIT, new_account

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")
# Loaded on first use only; the standard modules are those no idle part of the server needs.
NOT_AT_START = ("blynklite.handlers.app_tags", "blynklite.handlers.app_widgets", "blynklite.handlers.app_clone",
                "blynklite.handlers.app_provisioning", "blynklite.handlers.app_publisher",
                "blynklite.handlers.app_flashed", "blynklite.handlers.history", "blynklite.history.reports",
                "blynklite.history.export", "calendar", "decimal", "gzip", "hmac", "secrets")


def imported(text):
    return [m.group(1) for m in map(IMPORT_LINE.match, text.splitlines()) if m]


@pytest.fixture
def traced_server(make_server, monkeypatch):
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    return make_server()


def test_idle_server_leaves_rare_modules_unloaded_until_their_command(traced_server):
    at_start = imported(traced_server.banner)
    assert "blynklite.server" in at_start and "blynklite.handlers.app" in at_start   # the trace works
    assert [m for m in NOT_AT_START if m in at_start] == []

    email = new_account(traced_server)
    with AppClient(traced_server.host, traced_server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == Status.OK
        dash_id, _, _ = app.new_device("first")
        tag = json.dumps({"id": 100000, "name": "Kitchen", "deviceIds": [0]})
        assert app.request(Command.CREATE_TAG, f"{dash_id}\0{tag}")[0] == Command.CREATE_TAG
        command, _, payload = app.request(Command.GET_TAGS, str(dash_id))
        assert (command, json.loads(payload)) == (Command.GET_TAGS, [json.loads(tag)])
    console = traced_server.process.stdout
    assert traced_server.stop() == 0
    later = imported("".join(console))
    assert "blynklite.handlers.app_tags" in later, " ".join(later)
    assert "blynklite.handlers.app_publisher" in later     # REGISTER's welcome mail loads it
    assert "blynklite.handlers.app_provisioning" not in later     # no provisioning command was sent


def test_lazy_entries_name_exactly_their_modules_handlers():
    by_module = {}
    for command, entry in AppSession.handlers.items():
        if isinstance(entry, FirstUse):
            assert entry.command == command
            by_module.setdefault(entry.module, set()).add(command)
    assert {"history", "app_tags", "app_clone", "app_publisher"} <= set(by_module)
    for module, commands in by_module.items():
        handlers = importlib.import_module(f"blynklite.handlers.{module}").HANDLERS
        assert set(handlers) == commands, module
        assert not set(handlers) & set(AppSession.handlers.keys() - commands), module   # nothing shadowed


def test_an_entry_loads_its_modules_handler_and_takes_its_name():
    from blynklite.handlers import app_clone
    entry = FirstUse("app_clone", Command.GET_CLONE_CODE)
    assert entry.handler is None and "app_clone" in entry.__name__
    assert entry.load() is app_clone.HANDLERS[Command.GET_CLONE_CODE] is entry.handler
    assert entry.__name__ == app_clone.HANDLERS[Command.GET_CLONE_CODE].__name__


def test_reports_saved_in_a_profile_are_scheduled_at_start_and_none_loaded_without_them(tmp_path):
    from history_support import SteppedServer
    from test_history_reports import CREATE_REPORT, REPORT_WIDGET, daily
    from test_history_server import START, open_project

    def scheduled(server):
        return server.on_reactor(lambda: None if server.history._reports is None
                                 else sorted(server.history._reports.timers))

    first = SteppedServer(tmp_path / "r", wall=START, **{"initial.energy": 10000})
    try:
        assert scheduled(first) is None                  # no Report widget anywhere: reports.py not loaded
        app, _ = open_project(first, [REPORT_WIDGET])
        assert app.request(CREATE_REPORT, "1\x00" + json.dumps(daily(1, 10 * 3600)))[0] == CREATE_REPORT
        app.close()
        assert scheduled(first) == [("hist@example.com", "Blynk", 1, 1)]
    finally:
        first.stop()
    again = SteppedServer(tmp_path / "r", wall=START)
    try:
        assert scheduled(again) == [("hist@example.com", "Blynk", 1, 1)]   # armed again at start
    finally:
        again.stop()
