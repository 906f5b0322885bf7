"""send_sms against a recording HTTP server standing in for Nexmo: upstream's parameters, and
Nexmo's refusals (in its JSON answer or as an HTTP status) raised with its own words."""
import urllib.parse

import pytest

from blynklite.notify.sms import SmsError, SmsSettings, send_sms

from .peers import free_port

ACCEPTED = {"message-count": "1", "messages": [{"to": "447700900000", "message-id": "0A0000000123ABCD1",
                                                "status": "0", "remaining-balance": "3.14159265",
                                                "message-price": "0.03330000", "network": "12345"}]}


def nexmo(url, **props):
    return SmsSettings.from_properties({"nexmo.api.key": "abcd1234", "nexmo.api.secret": "s3cr3t",
                                        "nexmo.url": url, **props})


def test_sms_posts_upstreams_parameters(recorder):
    recorder.reply("/sms/json", 200, ACCEPTED)
    send_sms(nexmo(f"{recorder.url}/sms/json"), "447700900000", "Flood sensor: water! ✓")
    request = recorder.next()
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request.body.decode(), strict_parsing=True) == {
        "api_key": ["abcd1234"], "api_secret": ["s3cr3t"], "from": ["Blynk"], "to": ["447700900000"],
        "text": ["Flood sensor: water! ✓"]}


def test_sender_name_is_configurable(recorder):
    recorder.reply("/sms/json", 200, ACCEPTED)
    send_sms(nexmo(f"{recorder.url}/sms/json", **{"nexmo.from": "MyFarm"}), "447700900000", "hi")
    assert urllib.parse.parse_qs(recorder.next().body.decode())["from"] == ["MyFarm"]


def test_refusal_in_nexmos_answer_raises_its_error_text(recorder):
    recorder.reply("/sms/json", 200, {"message-count": "1",
                                      "messages": [{"status": "4", "error-text": "Bad Credentials"}]})
    with pytest.raises(SmsError, match="Nexmo refused the SMS to 447700900000: Bad Credentials"):
        send_sms(nexmo(f"{recorder.url}/sms/json"), "447700900000", "hi")


def test_http_error_and_garbage_answers_raise(recorder):
    recorder.reply("/sms/json", 500, b"upstream broke", "text/plain")
    recorder.reply("/sms/json", 200, b"<html>captive portal</html>", "text/html")
    with pytest.raises(SmsError, match="Nexmo answered 500 upstream broke") as caught:
        send_sms(nexmo(f"{recorder.url}/sms/json"), "447700900000", "hi")
    assert caught.value.status == 500
    with pytest.raises(SmsError, match="unexpected answer from Nexmo: <html>captive portal"):
        send_sms(nexmo(f"{recorder.url}/sms/json"), "447700900000", "hi")


def test_unreachable_nexmo_raises_without_status_or_secret():
    with pytest.raises(SmsError, match="cannot reach") as caught:
        send_sms(nexmo(f"http://127.0.0.1:{free_port()}/sms/json"), "447700900000", "hi")
    assert caught.value.status is None and "s3cr3t" not in str(caught.value)


def test_not_configured_without_key_and_secret():
    settings = SmsSettings.from_properties({})
    assert not settings.configured and settings.url == "https://rest.nexmo.com/sms/json"
    with pytest.raises(SmsError, match="nexmo.api.key and nexmo.api.secret"):
        send_sms(settings, "447700900000", "hi")
