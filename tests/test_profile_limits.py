"""Per-account limits hold for the whole account (issue: reliability §4).

`user.profile.max.size` used to be checked per message only, so an account could grow one dashboard
widget by widget, or add dashboard after dashboard, far past it. Every change that grows the profile
is now checked against the whole profile; the count limits stay exact.
"""
import json

import pytest

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

from devices import PASSWORD, WAIT, new_account

C, S = Command, Status
PROFILE_KB = 8


@pytest.fixture
def small(make_server):
    server = make_server(user_profile_max_size=PROFILE_KB, user_dashboard_max_limit=50,
                         user_devices_limit=2)
    email = new_account(server)
    app = AppClient(server.host, server.app_port, timeout=WAIT)
    assert app.login(email, PASSWORD) == S.OK
    yield server, app
    app.close()


def _status(app, command, *fields):
    return app.request(command, "\0".join(str(f) for f in fields).encode())[2]


def _widget(widget_id, label_size=900):
    return json.dumps({"type": "BUTTON", "id": widget_id, "x": 0, "y": 0, "width": 1, "height": 1,
                       "label": "L" * label_size, "pinType": "VIRTUAL", "pin": widget_id % 100})


def _profile_size(app):
    return len(json.dumps(app.load_profile(), separators=(",", ":")).encode())


def test_widgets_stop_when_the_whole_profile_is_full(small):
    server, app = small
    assert app.create_dash(1, "board") == S.OK
    answers = [_status(app, C.CREATE_WIDGET, 1, _widget(n)) for n in range(1, 20)]
    accepted = answers.count(S.OK)
    assert 5 <= accepted < 9 and answers[accepted:] == [S.NOT_ALLOWED] * (19 - accepted), answers
    assert _profile_size(app) <= PROFILE_KB * 1024
    # An update that grows a widget is checked too; one that shrinks it is not refused.
    assert _status(app, C.UPDATE_WIDGET, 1, _widget(1, label_size=3000)) == S.NOT_ALLOWED
    assert _status(app, C.UPDATE_WIDGET, 1, _widget(1, label_size=10)) == S.OK
    # Freed room can be used again.
    assert _status(app, C.DELETE_WIDGET, 1, 2) == S.OK
    assert _status(app, C.CREATE_WIDGET, 1, _widget(50)) == S.OK


def test_dashboards_stop_when_the_whole_profile_is_full(small):
    server, app = small
    answers = []
    for dash_id in range(1, 30):
        board = json.dumps({"id": dash_id, "name": "D" * 700})
        answers.append(_status(app, C.CREATE_DASH, board))
    assert S.NOT_ALLOWED in answers and answers.count(S.OK) < 13, answers
    assert _profile_size(app) <= PROFILE_KB * 1024


def _fill(app):
    """Widgets of shrinking size until not even the smallest fits: under ~100 bytes are left."""
    assert app.create_dash(1, "board") == S.OK
    widget_id = 1
    for label_size in (900, 100, 0):
        while _status(app, C.CREATE_WIDGET, 1, _widget(widget_id, label_size)) == S.OK:
            widget_id += 1
    # what the app loads is the saved profile less the account fields (e-mail, hash, ...)
    assert PROFILE_KB * 1024 - 700 < _profile_size(app) <= PROFILE_KB * 1024


def test_devices_and_tags_count_against_the_profile_too(small):
    server, app = small
    _fill(app)
    device = json.dumps({"id": 5, "name": "N" * 40, "boardType": "ESP8266"})
    assert _status(app, C.CREATE_DEVICE, 1, device) == S.NOT_ALLOWED
    tag = json.dumps({"id": 100001, "name": "T" * 40, "deviceIds": [0] * 25})
    assert _status(app, C.CREATE_TAG, 1, tag) == S.NOT_ALLOWED
    assert _profile_size(app) <= PROFILE_KB * 1024


def test_count_limits_stay_exact(make_server):
    server = make_server(user_dashboard_max_limit=3, user_devices_limit=2)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == S.OK
        assert [app.create_dash(n, f"d{n}") for n in range(1, 5)] == [S.OK] * 3 + [S.QUOTA_LIMIT]
        answers = [app.request(C.CREATE_DEVICE, f"1\0{json.dumps({'id': n, 'name': f'd{n}', 'boardType': 'ESP32'})}"
                               .encode()) for n in range(0, 5)]
        # upstream refuses when a dashboard already has MORE than the limit: limit + 1 can exist
        assert [a[0] for a in answers[:3]] == [C.CREATE_DEVICE] * 3
        assert [(a[0], a[2]) for a in answers[3:]] == [(C.RESPONSE, S.NOT_ALLOWED)] * 2
