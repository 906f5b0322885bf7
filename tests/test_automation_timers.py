"""Timers and time-triggered Eventor rules (spec/behaviours.md §8): the real server (in this process,
on a stepped wall clock), a real blynklib device and the app over TLS. One test runs a Timer on the
real clock in a subprocess server."""
import calendar
import datetime
import time

import pytest

from automation_support import WAIT, InProcessServer, LibDevice, Project, app_frames
from blynklite.codec.commands import Command, Status

QUIET = 0.5       # how long "nothing arrives" is watched


def utc(*fields):
    return calendar.timegm(datetime.datetime(*fields).timetuple())


@pytest.fixture
def stepped(tmp_path):
    # 200 widgets are created in a burst: above the default 100 messages/s of one app connection
    server = InProcessServer(tmp_path, wall=utc(2026, 3, 1, 0, 0, 0), user_message_quota_limit=10000)
    yield server
    server.stop()


TIMER = {"type": "TIMER", "id": 10, "x": 0, "y": 0, "width": 2, "height": 1, "deviceId": 0,
         "pinType": "VIRTUAL", "pin": 1, "startTime": 6 * 3600, "startValue": "1",
         "stopTime": 18 * 3600, "stopValue": "0"}
# 04:30 UTC on Mondays in New York: 23:30 on Sunday under EST (UTC-5), 00:30 on Monday under EDT
# (UTC-4). Only a rule that computes the local day with the zone's rules fires on 9 March 2026,
# the first day of daylight saving time.
MONDAY_RULE = {"type": "EVENTOR", "id": 11, "x": 0, "y": 1, "width": 2, "height": 1, "deviceId": 0,
               "rules": [{"isActive": True,
                          "triggerTime": {"id": 1, "time": 4 * 3600 + 1800, "days": [1],
                                          "tzName": "America/New_York"},
                          "actions": [{"type": "SETPIN", "pin": {"pin": 2, "pinType": "VIRTUAL"},
                                       "value": "monday"}]}]}


def test_a_day_of_timers_fires_start_and_stop_to_the_device_and_the_app(stepped):
    project = Project(stepped, [TIMER])
    device = LibDevice(stepped, project.tokens[0])
    try:
        assert device.connected()
        stepped.set_wall(utc(2026, 3, 9, 5, 59, 59))
        assert device.next_write(QUIET) is None
        stepped.set_wall(utc(2026, 3, 9, 6, 0, 0))
        assert device.next_write() == (1, ["1"])
        [(_, msg_id, body)] = app_frames(project.app, Command.HARDWARE)
        assert (msg_id, body) == (7777, b"1-0\0vw\x001\x001")
        stepped.set_wall(utc(2026, 3, 9, 18, 0, 0))
        assert device.next_write() == (1, ["0"])
        widget = [w for w in project.app.load_profile()["dashBoards"][0]["widgets"] if w["id"] == 10][0]
        assert widget["value"] == "0"          # the fired value is stored, as upstream
    finally:
        device.close()
        project.close()


def test_an_edited_timer_fires_at_its_new_time_only_and_not_on_an_inactive_dashboard(stepped):
    project = Project(stepped, [TIMER])
    device = LibDevice(stepped, project.tokens[0])
    try:
        assert device.connected()
        assert project.update_widget(dict(TIMER, startTime=7 * 3600, startValue="on")) == Status.OK
        stepped.set_wall(utc(2026, 3, 10, 6, 0, 0))
        assert device.next_write(QUIET) is None
        stepped.set_wall(utc(2026, 3, 10, 7, 0, 0))
        assert device.next_write() == (1, ["on"])
        assert project.app.request(Command.DEACTIVATE_DASHBOARD, b"1")[2] == Status.OK
        stepped.set_wall(utc(2026, 3, 10, 18, 0, 0))
        assert device.next_write(QUIET) is None
    finally:
        device.close()
        project.close()


def test_a_timed_eventor_rule_follows_the_local_weekday_across_daylight_saving(stepped):
    project = Project(stepped, [MONDAY_RULE])
    device = LibDevice(stepped, project.tokens[0])
    try:
        assert device.connected()
        stepped.set_wall(utc(2026, 3, 2, 4, 30, 0))     # Sunday 23:30 in New York (EST)
        assert device.next_write(QUIET) is None
        stepped.set_wall(utc(2026, 3, 3, 4, 30, 0))     # Monday 23:30 in New York (EST)
        assert device.next_write() == (2, ["monday"])
        stepped.set_wall(utc(2026, 3, 9, 4, 30, 0))     # Monday 00:30 in New York (EDT since 8 March)
        assert device.next_write() == (2, ["monday"])
        [(_, msg_id, body)] = app_frames(project.app, Command.HARDWARE, count=1)
        assert (msg_id, body) == (7777, b"1-0\0vw\x002\x00monday")
    finally:
        device.close()
        project.close()


def test_two_hundred_timers_cost_only_the_ones_due(stepped):
    widgets = [dict(TIMER, id=100 + i, x=i % 8, y=i // 8, pin=1 + i % 50, startTime=i * 60, startValue="1",
                    stopTime=-1) for i in range(200)]
    project = Project(stepped, widgets)
    try:
        schedule = stepped.server.automation.timers
        stepped.set_wall(utc(2026, 3, 11, 0, 0, 30))     # the job registers changed profiles first
        assert stepped.call(schedule.count) == 200
        assert stepped.call(lambda: len(schedule.seconds.get(60, {}))) == 1
        before = stepped.call(lambda: schedule.fired)
        stepped.set_wall(utc(2026, 3, 11, 0, 1, 0))
        assert stepped.call(lambda: schedule.fired) == before + 1
    finally:
        project.close()


@pytest.mark.parametrize("widget", [
    dict(TIMER, startTime="six"),
    dict(TIMER, stopValue={"not": "a string"}),
    dict(MONDAY_RULE, rules=[{"isActive": True, "condition": {"type": "ABOUT", "value": 1}}]),
    dict(MONDAY_RULE, rules=[{"isActive": True, "triggerTime": {"time": 0, "tzName": "Mars/Olympus"}}]),
    dict(MONDAY_RULE, rules=[{"isActive": True, "actions": [{"type": "LAUNCH"}]}]),
    {"type": "WEBHOOK", "id": 12, "width": 1, "height": 1, "url": "http://x", "method": "PATCH"},
    {"type": "WEBHOOK", "id": 12, "width": 1, "height": 1, "url": "http://x", "headers": "Accept: */*"},
], ids=["timer-time", "timer-value", "condition", "zone", "action", "method", "headers"])
def test_invalid_automation_json_is_refused_when_saved(stepped, widget):
    project = Project(stepped)
    try:
        assert project.add_widget(widget) == Status.ILLEGAL_COMMAND_BODY
        assert project.app.request(Command.PING)[2] == Status.OK      # the connection stays usable
    finally:
        project.close()


def test_a_timer_fires_on_the_real_clock(make_server):
    running = make_server()
    project = Project(running, [])
    start = (int(time.time()) + 3) % 86400
    assert project.add_widget(dict(TIMER, startTime=start, startValue="real", stopTime=-1)) == Status.OK
    device = LibDevice(running, project.tokens[0])
    try:
        assert device.connected()
        assert device.next_write(WAIT) == (1, ["real"])
    finally:
        device.close()
        project.close()


def test_a_timer_inside_a_device_tiles_template_fires_to_every_device_of_its_tiles(stepped):
    inner = dict(TIMER, id=61, deviceId=-1, startTime=8 * 3600, startValue="tile", stopTime=-1)
    tiles = {"type": "DEVICE_TILES", "id": 60, "x": 0, "y": 0, "width": 8, "height": 4,
             "templates": [{"id": 7, "name": "lamp", "widgets": [inner], "deviceIds": [1]}],
             "tiles": [{"deviceId": 1, "templateId": 7}]}
    project = Project(stepped, [tiles], devices=2)
    first = LibDevice(stepped, project.tokens[0])
    second = LibDevice(stepped, project.tokens[1])
    try:
        assert first.connected() and second.connected()
        stepped.set_wall(utc(2026, 3, 12, 8, 0, 0))
        assert second.next_write() == (1, ["tile"])
        assert first.next_write(QUIET) is None
    finally:
        first.close()
        second.close()
        project.close()
