"""send_push against a recording HTTP server on loopback: the legacy FCM payloads byte for byte as
upstream sent them, FCM HTTP v1 with its OAuth2 JWT (signature verified with the public key) and a
cached access token, ntfy headers, dead-token reporting and provider errors."""
import base64
import email.header
import json
import time
import urllib.parse

import pytest

from blynklite.notify.push import PushError, Push, PushSettings, send_push

from .peers import free_port

PRODUCT = "Blynk"


@pytest.fixture(scope="module")
def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def service_account(tmp_path, rsa_key, recorder):
    from cryptography.hazmat.primitives import serialization
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    account = {"type": "service_account", "project_id": "my-blynk", "private_key_id": "kid-1",
               "private_key": pem, "client_email": "push@my-blynk.iam.gserviceaccount.com",
               "token_uri": f"{recorder.url}/token"}
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(account))
    return str(path)


def legacy(recorder, **props):
    return PushSettings.from_properties({"gcm.server": f"{recorder.url}/fcm/send", "gcm.api.key": "AAAA-key",
                                         **props}, PRODUCT)


def v1(recorder, service_account):
    return PushSettings.from_properties({"push.provider": "fcm-v1", "fcm.service.account": service_account,
                                         "fcm.endpoint": recorder.url + "/v1/projects/{project_id}/messages:send"},
                                        PRODUCT)


def ntfy(recorder, **props):
    return PushSettings.from_properties({"push.provider": "ntfy", "ntfy.url": recorder.url + "/",
                                         "ntfy.topic": "blynk-alerts", **props}, PRODUCT)


# -- legacy FCM HTTP (upstream's payloads, spec/behaviours.md §4) ------------------------------------
def test_legacy_payloads_are_upstreams_byte_for_byte(recorder):
    push = Push({"uid-a": "android-token"}, {"uid-i": "ios-token"}, "Yo My Device!", None, "high", 7)
    assert send_push(legacy(recorder), push) == []
    android, ios = recorder.next(), recorder.next()
    for request in (android, ios):
        assert (request.method, request.path) == ("POST", "/fcm/send")
        assert request.headers["Authorization"] == "key=AAAA-key"
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert android.body == (b'{"to":"android-token","priority":"high",'
                            b'"data":{"message":"Yo My Device!","dashId":7}}')
    assert ios.body == (b'{"to":"ios-token","priority":"high","notification":{"body":"Yo My Device!",'
                        b'"dashId":7,"sound":"default","title":"Blynk Notification"}}')


def test_legacy_title_and_priority_defaults(recorder):
    settings = legacy(recorder, **{"notification.title": "{PRODUCT_NAME} says"})
    send_push(settings, Push({}, {"i": "ios-token"}, "Grüße", priority="whatever", dash_id=1))
    body = recorder.next().json()
    assert body["priority"] == "normal"
    assert body["notification"]["title"] == "Blynk says" and body["notification"]["body"] == "Grüße"


def test_legacy_not_registered_token_is_reported_dead(recorder):
    recorder.reply("/fcm/send", 200, {"multicast_id": 1, "success": 0, "failure": 1,
                                      "results": [{"error": "NotRegistered"}]})
    recorder.reply("/fcm/send", 200, {"multicast_id": 2, "success": 1, "failure": 0,
                                      "results": [{"message_id": "0:1"}]})
    push = Push({"old": "stale-token", "new": "fresh-token"}, {}, "hi")
    assert send_push(legacy(recorder), push) == ["old"]


def test_legacy_error_reply_raises_with_status_and_answer_after_trying_every_token(recorder):
    recorder.reply("/fcm/send", 401, b"<HTML>The request was missing an Authentication Key</HTML>", "text/html")
    with pytest.raises(PushError, match="FCM refused 2 push.*401 <HTML>The request was missing") as caught:
        send_push(legacy(recorder), Push({"a": "t1"}, {"i": "t2"}, "hi"))
    assert caught.value.status == 401
    assert len(recorder.all()) == 2


def test_unreachable_provider_raises_without_status():
    settings = PushSettings.from_properties({"gcm.server": f"http://127.0.0.1:{free_port()}/fcm/send",
                                             "gcm.api.key": "k"})
    with pytest.raises(PushError, match="cannot reach http://127.0.0.1:") as caught:
        send_push(settings, Push({"a": "t"}, {}, "hi"))
    assert caught.value.status is None


# -- FCM HTTP v1 --------------------------------------------------------------------------------------
def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(assertion, public_key):
    """Decode an RS256 JWT, checking its signature with `public_key` (raises if it does not match)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    header, claims, signature = assertion.split(".")
    public_key.verify(b64decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(b64decode(header)), json.loads(b64decode(claims))


def token_request(recorder, rsa_key):
    request = recorder.next()
    assert (request.method, request.path) == ("POST", "/token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    return verify_jwt(form["assertion"], rsa_key.public_key())


def test_v1_signs_a_jwt_gets_a_token_and_sends_one_message_per_token(recorder, service_account, rsa_key):
    recorder.reply("/token", 200, {"access_token": "ya29.token-1", "expires_in": 3599, "token_type": "Bearer"})
    before = int(time.time())
    push = Push({"a": "android-token"}, {"i": "ios-token"}, "Yo", None, "high", 7)
    assert send_push(v1(recorder, service_account), push) == []

    header, claims = token_request(recorder, rsa_key)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    assert claims["iss"] == "push@my-blynk.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["aud"] == f"{recorder.url}/token"
    assert before <= claims["iat"] <= time.time() and claims["exp"] - claims["iat"] == 3600

    android, ios = recorder.next(), recorder.next()
    for request in (android, ios):
        assert (request.method, request.path) == ("POST", "/v1/projects/my-blynk/messages:send")
        assert request.headers["Authorization"] == "Bearer ya29.token-1"
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    for request, token in ((android, "android-token"), (ios, "ios-token")):
        assert request.json() == {"message": {
            "token": token, "notification": {"title": "Blynk Notification", "body": "Yo"},
            "data": {"message": "Yo", "dashId": "7"}, "android": {"priority": "HIGH"},
            "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"sound": "default"}}}}}


def test_v1_access_token_is_cached_until_shortly_before_it_expires(recorder, service_account, rsa_key):
    recorder.reply("/token", 200, {"access_token": "short-lived", "expires_in": 30})
    recorder.reply("/token", 200, {"access_token": "long-lived", "expires_in": 3600})
    settings, push = v1(recorder, service_account), Push({"a": "t"}, {}, "hi")
    for _ in range(3):
        send_push(settings, push)
    paths = [(r.path, r.headers.get("Authorization")) for r in recorder.all()]
    assert paths == [("/token", None), ("/v1/projects/my-blynk/messages:send", "Bearer short-lived"),
                     ("/token", None), ("/v1/projects/my-blynk/messages:send", "Bearer long-lived"),
                     ("/v1/projects/my-blynk/messages:send", "Bearer long-lived")]


def test_v1_unregistered_token_is_dead_and_other_errors_raise(recorder, service_account):
    recorder.reply("/token", 200, {"access_token": "tok", "expires_in": 3600})
    path = "/v1/projects/my-blynk/messages:send"
    recorder.reply(path, 404, {"error": {"code": 404, "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})
    recorder.reply(path, 200, {"name": "projects/my-blynk/messages/1"})
    settings = v1(recorder, service_account)
    assert send_push(settings, Push({"gone": "t1", "here": "t2"}, {}, "hi")) == ["gone"]

    recorder.reply(path, 400, {"error": {"code": 400, "message": "The registration token is not a valid FCM "
                                                                 "registration token", "status": "INVALID_ARGUMENT"}})
    recorder.replies[path] = recorder.replies[path][-1:]
    with pytest.raises(PushError, match="FCM v1 refused 1 push.*400 .*not a valid FCM registration token") as caught:
        send_push(settings, Push({"x": "bad"}, {}, "hi"))
    assert caught.value.status == 400


def test_v1_token_endpoint_error_is_reported(recorder, service_account):
    recorder.reply("/token", 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    with pytest.raises(PushError, match="no access token from .*/token: 400 .*Invalid JWT Signature") as caught:
        send_push(v1(recorder, service_account), Push({"a": "t"}, {}, "hi"))
    assert caught.value.status == 400


def test_v1_missing_service_account_file_says_which_key(recorder, tmp_path):
    settings = v1(recorder, str(tmp_path / "nope.json"))
    with pytest.raises(PushError, match="fcm.service.account: cannot read .*nope.json"):
        send_push(settings, Push({"a": "t"}, {}, "hi"))


# -- ntfy ---------------------------------------------------------------------------------------------
def test_ntfy_posts_the_body_with_title_priority_and_bearer_token(recorder):
    send_push(ntfy(recorder, **{"ntfy.token": "tk_secret"}), Push({"a": "t"}, {}, "Door open ✓", None, "high"))
    request = recorder.next()
    assert (request.method, request.path, request.body) == ("POST", "/blynk-alerts", "Door open ✓".encode())
    assert request.headers["Title"] == "Blynk Notification"
    assert request.headers["Priority"] == "high"
    assert request.headers["Authorization"] == "Bearer tk_secret"


def test_ntfy_non_ascii_title_travels_as_an_rfc2047_word(recorder):
    send_push(ntfy(recorder), Push({}, {"i": "t"}, "hi", title="Küche: Temperatur"))
    request = recorder.next()
    assert request.headers["Priority"] == "default" and "Authorization" not in request.headers
    assert str(email.header.make_header(email.header.decode_header(request.headers["Title"]))) == "Küche: Temperatur"


def test_ntfy_error_reply_raises_with_status(recorder):
    recorder.reply("/blynk-alerts", 403, {"code": 40301, "http": 403, "error": "forbidden"})
    with pytest.raises(PushError, match="ntfy refused the push: 403 .*forbidden") as caught:
        send_push(ntfy(recorder), Push({"a": "t"}, {}, "hi"))
    assert caught.value.status == 403


# -- settings -----------------------------------------------------------------------------------------
def test_provider_defaults_to_legacy_when_its_keys_are_set_else_none():
    legacy_keys = {"gcm.server": "https://x/fcm/send", "gcm.api.key": "k"}
    assert PushSettings.from_properties(legacy_keys).provider == "fcm-legacy"
    none = PushSettings.from_properties({})
    assert none.provider == "none" and not none.configured
    with pytest.raises(PushError, match="push.provider"):
        send_push(none, Push({"a": "t"}, {}, "hi"))
    with pytest.raises(ValueError, match="push.provider: 'apns' is not one of"):
        PushSettings.from_properties({"push.provider": "apns"})
    assert none.offline_body == "Your {DEVICE_NAME} went offline." and none.title == "Blynk Notification"
