"""SMS through the Nexmo (Vonage) SMS API, with upstream's parameters (spec/config.md, sms.properties).

Owns: reading sms.properties and one submission: `api_key, api_secret, from, to, text` POSTed to
nexmo.url, and reading Nexmo's JSON answer. Never does: the length or widget checks (the handlers
do). Upstream put the parameters in the URL's query; they go in the form body here, which the API
accepts alike and which keeps the secret out of proxy and server logs.

Invariant: returns only when Nexmo accepted the message (`messages[0].status == "0"`); anything
else raises SmsError with Nexmo's error-text or the HTTP status.
"""
import json
import urllib.parse

from .http_post import ProviderError, post, snippet

DEFAULT_URL = "https://rest.nexmo.com/sms/json"
DEFAULT_SENDER = "Blynk"      # upstream's fixed `from`


class SmsError(ProviderError):
    pass


class SmsSettings:
    __slots__ = ("key", "secret", "url", "sender")

    @classmethod
    def from_properties(cls, props):
        s = cls()
        s.key = str(props.get("nexmo.api.key") or "").strip()
        s.secret = str(props.get("nexmo.api.secret") or "").strip()
        s.url = str(props.get("nexmo.url") or DEFAULT_URL).strip()
        s.sender = str(props.get("nexmo.from") or DEFAULT_SENDER).strip()
        return s

    @property
    def configured(self):
        return bool(self.key and self.secret)


def send_sms(settings, to, text):
    """Submit one SMS; raise SmsError when Nexmo cannot be reached or does not accept it."""
    if not settings.configured:
        raise SmsError("SMS is not configured: set nexmo.api.key and nexmo.api.secret in sms.properties")
    form = urllib.parse.urlencode({"api_key": settings.key, "api_secret": settings.secret,
                                   "from": settings.sender, "to": to, "text": text})
    status, body = post(settings.url, form.encode("utf-8"),
                        {"Content-Type": "application/x-www-form-urlencoded"}, error=SmsError)
    if status != 200:
        raise SmsError(f"Nexmo answered {status} {snippet(body)}", status)
    message = _first_message(body)
    if str(message.get("status")) != "0":
        reason = message.get("error-text") or f"status {message.get('status')}"
        raise SmsError(f"Nexmo refused the SMS to {to}: {reason}", status)


def _first_message(body):
    try:
        message = json.loads(body)["messages"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        message = None
    if not isinstance(message, dict):
        raise SmsError(f"unexpected answer from Nexmo: {snippet(body)}", 200)
    return message
