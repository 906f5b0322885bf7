"""The Eventor (spec/behaviours.md §8): rules run by the server on writes from a device (blynklib), an
app, the HTTP API; edge-triggered; SETPIN, SET_PROP and MAIL actions (MAIL to a real SMTP server)."""
import urllib.request

import pytest

from automation_support import PASSWORD, WAIT, InProcessServer, LibDevice, Project, app_frames
from blynklite.automation.eventor import NOT_A_NUMBER, Rule, parse_double
from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

QUIET = 0.5


def eventor(*rules, device_id=0):
    return {"type": "EVENTOR", "id": 20, "x": 0, "y": 0, "width": 2, "height": 1, "deviceId": device_id,
            "rules": [dict(isActive=True, **rule) for rule in rules]}


def when(pin, kind, actions, **condition):
    return {"triggerPin": {"pin": pin, "pinType": "VIRTUAL"}, "condition": dict(type=kind, **condition),
            "actions": actions}


def set_pin(pin, value):
    return {"type": "SETPIN", "pin": {"pin": pin, "pinType": "VIRTUAL"}, "value": value}


@pytest.fixture
def stepped(tmp_path):
    server = InProcessServer(tmp_path)
    yield server
    server.stop()


def test_a_device_write_fires_the_rule_once_until_it_is_rearmed(stepped):
    project = Project(stepped, [eventor(when(1, "GT", [set_pin(3, "on")], value=10))])
    device = LibDevice(stepped, project.tokens[0])
    try:
        assert device.connected()
        device.virtual_write(1, 42)
        assert device.next_write() == (3, ["on"])
        frames = app_frames(project.app, Command.HARDWARE, count=2)
        assert (888, b"1-0\0vw\x003\x00on") in [(m, b) for _, m, b in frames]
        device.virtual_write(1, 50)                     # still true: no second firing
        assert device.next_write(QUIET) is None
        device.virtual_write(1, 5)                      # false: re-armed
        device.virtual_write(1, 11)
        assert device.next_write() == (3, ["on"])
        widget = [w for w in project.app.load_profile()["dashBoards"][0]["widgets"] if w["id"] == 20][0]
        assert widget["rules"][0]["isActive"] is True
    finally:
        device.close()
        project.close()


def test_app_and_http_writes_fire_rules_too_and_a_second_rule_sets_a_property(stepped):
    rules = eventor(when(1, "STR_EQUAL", [set_pin(3, "app")], value="go"),
                    when(2, "BETWEEN", [{"type": "SET_PROP", "pin": {"pin": 4, "pinType": "VIRTUAL"},
                                         "property": "label", "value": "warm"}], left=20, right=30))
    display = {"type": "DIGIT4_DISPLAY", "id": 21, "x": 0, "y": 1, "width": 1, "height": 1, "deviceId": 0,
               "pinType": "VIRTUAL", "pin": 4}
    project = Project(stepped, [rules, display])
    other = AppClient(stepped.host, stepped.app_port, timeout=WAIT)   # a second app of the account
    try:
        assert other.login(project.email, PASSWORD) == Status.OK
        project.app.write(1, 0, "V1", "go")
        frames = app_frames(other, Command.HARDWARE)
        assert [(m, b) for _, m, b in frames] == [(888, b"1-0\0vw\x003\x00app")]
        token = project.tokens[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{stepped.hw_port}/{token}/update/V2?value=25",
                                    timeout=WAIT) as reply:
            assert reply.status == 200
        [(_, msg_id, body)] = app_frames(other, Command.SET_WIDGET_PROPERTY)
        assert (msg_id, body) == (888, b"1-0\x004\x00label\x00warm")
        widgets = project.app.load_profile()["dashBoards"][0]["widgets"]
        assert [w["label"] for w in widgets if w["id"] == 21] == ["warm"]
    finally:
        other.close()
        project.close()


def test_a_mail_action_reaches_a_real_smtp_server_with_the_trigger_value(tmp_path):
    pytest.importorskip("aiosmtpd")
    from notify.peers import SmtpServer
    with SmtpServer("plain") as smtp:
        mail = {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": smtp.port, "mail.smtp.auth": "false",
                "mail.smtp.username": "blynk@example.com", "mail.smtp.starttls.enable": "false",
                "mail.from": "Blynk <blynk@example.com>"}
        server = InProcessServer(tmp_path, files={"mail.properties": mail})
        try:
            action = {"type": "MAIL", "subject": "Too hot", "message": "Temperature is /pin/ degrees"}
            project = Project(server, [eventor(when(1, "GTE", [action], value=30))])
            device = LibDevice(server, project.tokens[0])
            try:
                assert device.connected()
                device.virtual_write(1, 31.5)
                mails = iter(lambda: smtp.mailbox.next(WAIT), None)     # a welcome mail may come first
                sender, recipients, message = next(m for m in mails if m[2]["Subject"] != "Get started with Blynk")
                assert recipients == [project.email]
                assert message["Subject"] == "Too hot"
                assert message.get_content().strip() == "Temperature is 31.5 degrees"
            finally:
                device.close()
                project.close()
        finally:
            server.stop()


@pytest.mark.parametrize("condition, value, expected", [
    ({"type": "GT", "value": 10}, "10.5", True), ({"type": "GT", "value": 10}, "10", False),
    ({"type": "GTE", "value": 10}, "10", True), ({"type": "LT", "value": 10}, "9", True),
    ({"type": "LTE", "value": 10}, "11", False), ({"type": "EQ", "value": 1}, "1.0", True),
    ({"type": "NEQ", "value": 1}, "2", True), ({"type": "BETWEEN", "left": 1, "right": 3}, "3", False),
    ({"type": "NOT_BETWEEN", "left": 1, "right": 3}, "3", True), ({"type": "STR_EQUAL", "value": "on"}, "on", True),
    ({"type": "STR_NOT_EQUAL", "value": "on"}, "on", False), ({"type": "CHANGED", "value": "a"}, "b", True),
    ({"type": "CHANGED", "value": "a"}, "a", False),
    ({"type": "GT", "value": 0}, "not a number", True),      # upstream: NO_RESULT is Double.MIN_VALUE
    ({"type": "LT", "value": 0}, "not a number", False),
])
def test_every_condition_type_as_upstream(condition, value, expected):
    rule = Rule({"triggerPin": {"pin": 1, "pinType": "VIRTUAL"}, "condition": dict(condition),
                 "actions": [set_pin(2, "x")]})
    assert rule.matches(value, parse_double(value)) is expected


def test_parse_double_is_javas_for_numbers_and_no_result_otherwise():
    assert parse_double("1e3") == 1000.0 and parse_double(" -2.5 ") == -2.5 and parse_double("3f") == 3.0
    assert parse_double("0x10") == NOT_A_NUMBER and parse_double("") == NOT_A_NUMBER


def test_a_value_a_phone_relays_from_a_bluetooth_device_fires_the_rule(stepped):
    project = Project(stepped, [eventor(when(1, "LT", [set_pin(3, "cold")], value=5))])
    other = AppClient(stepped.host, stepped.app_port, timeout=WAIT)
    try:
        assert other.login(project.email, PASSWORD) == Status.OK
        project.app.send(Command.HARDWARE_RESEND_FROM_BLUETOOTH, "1-0\0vw\x001\x002")
        frames = app_frames(other, Command.HARDWARE)
        assert [(m, b) for _, m, b in frames] == [(888, b"1-0\0vw\x003\x00cold")]
    finally:
        other.close()
        project.close()


def test_a_notify_action_pushes_through_ntfy_with_the_trigger_value(tmp_path):
    from notify.peers import Recorder
    with Recorder() as ntfy:
        gcm = {"push.provider": "ntfy", "ntfy.url": ntfy.url, "ntfy.topic": "home"}
        server = InProcessServer(tmp_path, files={"gcm.properties": gcm})
        try:
            notification = {"type": "NOTIFICATION", "id": 22, "x": 0, "y": 2, "width": 1, "height": 1}
            action = {"type": "NOTIFY", "message": "Water level /pin/ cm"}
            project = Project(server, [notification, eventor(when(1, "LTE", [action], value=10))])
            try:
                assert project.app.request(Command.ADD_PUSH_TOKEN, "1\0phone\0push-token")[2] == Status.OK
                project.app.write(1, 0, "V1", "7")
                request = ntfy.next()
                assert (request.method, request.path, request.body) == ("POST", "/home", b"Water level 7 cm")
            finally:
                project.close()
        finally:
            server.stop()


def test_a_twit_action_tweets_with_the_widget_token_and_a_changed_rule_fires_on_each_new_value(tmp_path):
    from notify.peers import Recorder
    with Recorder() as twitter:
        twitter.reply("/1.1/statuses/update.json", 200, {"id": 1})
        keys = {"oauth.consumerKey": "ck", "oauth.consumerSecret": "cs",
                "twitter.url": twitter.url + "/1.1/statuses/update.json"}
        server = InProcessServer(tmp_path, files={"twitter4j.properties": keys})
        try:
            widget = {"type": "TWITTER", "id": 23, "x": 0, "y": 3, "width": 1, "height": 1,
                      "token": "user-token", "secret": "user-secret"}
            project = Project(server, [widget, eventor(when(1, "CHANGED", [{"type": "TWIT", "message": "Door /pin/"}]))])
            try:
                project.app.write(1, 0, "V1", "open")
                assert twitter.next().body == b"status=Door%20open"
                project.app.write(1, 0, "V1", "open")          # unchanged: nothing
                project.app.write(1, 0, "V1", "closed")
                assert twitter.next().body == b"status=Door%20closed"
                assert twitter.all() == []
            finally:
                project.close()
        finally:
            server.stop()
