"""Public REST client libraries against the real server (spec/http-api.md §2).

`pyblynkrestapi` (PyPI) reads and writes pins over HTTP with `requests` and also keeps a device
connection of its own (its TCP client sends the login header and the token in two writes). Its
constructor connects to blynk-cloud.com, so the test points its TCP client class at our server; the
library's own code does everything else.

`blynkapi` (PyPI) is Python 2 only (`urllib2`, `except HTTPError, e`) and cannot be imported by
Python 3, so it cannot be driven here.
"""
import pytest

from blynklite.codec.commands import Command
from devices import app_barrier, app_messages, new_account, open_app

pyblynkrestapi = pytest.importorskip("pyblynkrestapi.PyBlynkRestApi")
from pyblynkrestapi.BlynkClient import TCP_Client  # noqa: E402


@pytest.fixture
def rest_api(server, monkeypatch):
    email = new_account(server)
    app = open_app(server, email)
    dash_id, device_id, token = app.new_device("Greenhouse")
    app_barrier(app)
    monkeypatch.setattr(pyblynkrestapi, "TCP_Client", lambda: TCP_Client(server.host, server.hw_port))
    api = pyblynkrestapi.PyBlynkRestApi(token)
    api.server, api.port, api.scheme = server.host, str(server.hw_port), "http"
    yield api, app, f"{dash_id}-{device_id}"
    api.blynk.close()
    app.close()


def test_pyblynkrestapi_logs_in_its_device_and_writes_and_reads_pins(rest_api):
    api, app, target = rest_api
    assert api.blynk.connected
    api.set_pin_value("V5", 21.5)
    assert api.get_pin_value("V5") == "21.5"
    forwarded = app_messages(app, Command.HARDWARE)
    assert forwarded == [(Command.HARDWARE, 111, f"{target}\0vw\x005\x0021.5".encode())]


def test_pyblynkrestapi_device_connection_answers_pings(rest_api):
    api, _, _ = rest_api
    assert api.blynk.Ping()
