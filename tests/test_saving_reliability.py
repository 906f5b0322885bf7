"""One user's data never stops another user's save (issue: reliability §1).

A lone UTF-16 surrogate in client JSON used to be kept in a str and then broke the profile
serializer, which dropped the whole save round, the backups and the shutdown save. Text from clients
is now cleaned where it enters (blynklite/codec/json_text.py), and a profile that cannot be written
for any reason is logged, kept dirty and retried without touching anyone else's save.
"""
import json
import os
import urllib.error
import urllib.request

import pytest
from hypothesis import given, strategies as st

from blynklite.client import AppClient
from blynklite.codec import json_text
from blynklite.codec.commands import Command, Status
from blynklite.config import load_config
from blynklite.server import Server

from devices import PASSWORD, WAIT, new_account, open_app, wait_until

SAVE_WAIT = 10.0


# -- the codec --------------------------------------------------------------------------------------
def test_lone_surrogates_are_replaced_everywhere_in_the_value():
    value = json_text.loads('{"a\\ud800": ["x\\udfff", {"k": "\\uDBFFz"}], "n": 1}')
    assert value == {"a\ufffd": ["x\ufffd", {"k": "\ufffdz"}], "n": 1}
    json.dumps(value, ensure_ascii=False).encode("utf-8")


def test_a_surrogate_pair_is_one_code_point_and_kept():
    assert json_text.loads('["\\ud83d\\ude00"]') == ["\U0001F600"]


def test_bad_json_still_raises_value_error():
    with pytest.raises(ValueError):
        json_text.loads('{"a": ')


@given(st.lists(st.integers(0, 0x10FFFF), max_size=12))
def test_any_escaped_string_parses_to_text_that_encodes(code_units):
    escaped = "".join(f"\\u{c:04x}" if c <= 0xFFFF else chr(c) for c in code_units)
    value = json_text.loads(f'["{escaped}"]')
    value[0].encode("utf-8")


# -- the running server -----------------------------------------------------------------------------
def _profile_path(server, email):
    return server.data_dir / f"{email}.Blynk.user"


def _saved_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _dash_named(path, name):
    data = _saved_json(path)
    return bool(data) and any(d.get("name") == name for d in data.get("profile", {}).get("dashBoards", []))


def test_a_lone_surrogate_from_the_app_is_stored_as_replacement_and_others_still_save(server):
    poisoner, bystander = new_account(server), new_account(server)
    with open_app(server, poisoner) as app:
        raw = '{"id":5,"name":"bad \\ud800 name","widgets":[{"type":"BUTTON","id":1,"x":0,"y":0,' \
              '"width":1,"height":1,"label":"\\udc00","pinType":"VIRTUAL","pin":1}]}'
        assert app.request(Command.CREATE_DASH, raw.encode())[2] == Status.OK
    with open_app(server, bystander) as app:
        assert app.create_dash(1, "bystander board") == Status.OK

    wait_until(lambda: _dash_named(_profile_path(server, bystander), "bystander board"),
               "the bystander's profile saved", SAVE_WAIT)
    wait_until(lambda: _dash_named(_profile_path(server, poisoner), "bad \ufffd name"),
               "the poisoner's profile saved with U+FFFD", SAVE_WAIT)
    with open_app(server, poisoner) as app:
        (dash,) = [d for d in app.load_profile()["dashBoards"] if d["id"] == 5]
        assert dash["name"] == "bad \ufffd name" and dash["widgets"][0]["label"] == "\ufffd"
    assert server.stop() == 0
    assert "Traceback" not in server.log_text()


def test_http_put_of_a_lone_surrogate_answers_what_it_stored(server):
    email = new_account(server)
    with open_app(server, email) as app:
        token = app.new_device("Device")[2]
    base = f"http://{server.host}:{server.hw_port}/{token}"
    put = urllib.request.Request(f"{base}/update/V5", data=b'["\\ud800"]', method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(put, timeout=WAIT) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(f"{base}/get/V5", timeout=WAIT) as answer:
        assert json.loads(answer.read().decode("utf-8")) == ["\ufffd"]
    wait_until(lambda: (_saved_json(_profile_path(server, email)) or {})
               .get("profile", {}).get("pinsStorage", {}).get("1-0-v5") == "\ufffd",
               "the value saved as U+FFFD", SAVE_WAIT)


def test_an_unwritable_profile_is_logged_retried_and_does_not_stop_the_others(server):
    blocked, other = new_account(server), new_account(server)
    path = _profile_path(server, blocked)
    wait_until(path.exists, "the first save of the profile", SAVE_WAIT)
    path.unlink()
    path.mkdir()   # a folder where the file belongs: the rename fails, even for root
    with open_app(server, blocked) as app:
        assert app.create_dash(1, "waits for its file") == Status.OK
    with open_app(server, other) as app:
        assert app.create_dash(1, "saved anyway") == Status.OK

    wait_until(lambda: _dash_named(_profile_path(server, other), "saved anyway"), "the other saved", SAVE_WAIT)
    wait_until(lambda: f"could not save the profile of {blocked}" in server.log_text(), "the ERROR line", SAVE_WAIT)
    path.rmdir()   # the fault goes away: the next round writes it
    wait_until(lambda: _dash_named(path, "waits for its file"), "the retried save", SAVE_WAIT)
    assert server.stop() == 0


def test_shutdown_reports_a_profile_it_could_not_save_and_exits_non_zero(server):
    blocked, other = new_account(server), new_account(server)
    path = _profile_path(server, blocked)
    wait_until(path.exists, "the first save of the profile", SAVE_WAIT)
    path.unlink()
    path.mkdir()
    with open_app(server, blocked) as app:
        assert app.create_dash(1, "never written") == Status.OK
    with open_app(server, other) as app:
        assert app.create_dash(1, "written at shutdown") == Status.OK

    assert server.stop() == 1
    log = server.log_text()
    assert "profiles saved" not in log
    assert f"1 profiles could not be saved: {blocked}" in log
    assert _dash_named(_profile_path(server, other), "written at shutdown")


def test_many_accounts_with_one_poisoned_all_survive_sigterm(server):
    emails = [new_account(server) for _ in range(8)]
    for index, email in enumerate(emails):
        with open_app(server, email) as app:
            name = "bad \\udbff" if index == 3 else f"board {index}"
            body = json.dumps({"id": 1, "name": "x"}).replace('"x"', f'"{name}"')
            assert app.request(Command.CREATE_DASH, body.encode())[2] == Status.OK
    assert server.stop() == 0
    for index, email in enumerate(emails):
        expected = "bad \ufffd" if index == 3 else f"board {index}"
        assert _dash_named(_profile_path(server, email), expected), email


# -- shutdown and a background save that is still running (in-process) ------------------------------
def test_shutdown_writes_a_user_changed_while_a_background_save_was_running(tmp_path):
    config = load_config(["-dataFolder", str(tmp_path)])
    server = Server(config, str(tmp_path), tls=None)
    user = server.hub.create_user("late@example.com", "Blynk", "hash", 0)
    server.save_changed()                 # handed to a worker; its callback never runs here
    user.energy = 1234                    # changed while that save may still be running
    server.hub.mark_dirty(user)
    assert server.shutdown() == []
    saved = json.loads((tmp_path / "late@example.com.Blynk.user").read_text())
    assert saved["energy"] == 1234


def test_profile_files_and_data_folder_are_private(server):
    email = new_account(server)
    path = _profile_path(server, email)
    wait_until(path.exists, "the first save of the profile", SAVE_WAIT)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(server.data_dir).st_mode & 0o777 == 0o700


# -- fuzz findings (tools/fuzz.py) ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["[" * 2000, '{"a":' * 2000 + "1" + "}" * 2000, "[" * 70 + "]" * 70])
def test_deeply_nested_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        json_text.loads(text)


def test_json_at_a_blynk_depth_still_parses():
    assert json_text.loads("[" * 60 + "]" * 60)


def test_deep_json_from_the_app_and_over_http_gets_a_status_not_a_traceback(server):
    email = new_account(server)
    with open_app(server, email) as app:
        token = app.new_device("Device")[2]
        assert app.request(Command.CREATE_DASH, b"[" * 2000)[2] == Status.ILLEGAL_COMMAND_BODY
        assert app.request(Command.UPDATE_WIDGET, b"1\0" + b'{"a":' * 2000)[2] == Status.ILLEGAL_COMMAND_BODY
        assert app.request(Command.GET_WIDGET, b"1\0--1")[2] == Status.ILLEGAL_COMMAND
        assert app.request(Command.GET_WIDGET, b"1\0" + b"9" * 5000)[2] == Status.ILLEGAL_COMMAND
    put = urllib.request.Request(f"http://{server.host}:{server.hw_port}/{token}/update/V5", data=b"[" * 2000,
                                 method="PUT", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(put, timeout=WAIT)
    assert answer.value.code in (400, 500) and b"Error parsing body param" in answer.value.read()
    assert "Traceback" not in server.log_text()


@pytest.mark.parametrize("email, app_name", [("n@x.io", "Blynk\0x"), ("s@x.io", "a/b"),
                                             ("t@x.io", "../../../tmp/x"), ("a/b@x.io", "Blynk")])
def test_an_account_whose_file_name_would_be_unsafe_is_refused(server, email, app_name):
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        body = "\0".join((email, "hash", app_name)).encode()
        assert app.request(Command.REGISTER, body)[2] == Status.ILLEGAL_COMMAND
    assert server.stop() == 0
    assert not [p for p in server.data_dir.rglob("*") if "x.io" in p.name]
