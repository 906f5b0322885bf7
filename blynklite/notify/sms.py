"""SMS through the Nexmo (Vonage) SMS API, as upstream sends it (spec/config.md, sms.properties)."""
import json
import urllib.parse

from .http_post import ProviderError, post, snippet

DEFAULT_URL = "https://rest.nexmo.com/sms/json"


class SmsSettings:
    __slots__ = ("key", "secret", "url", "sender")

    @classmethod
    def from_properties(cls, props):
        s = cls()
        s.key = (props.get("nexmo.api.key") or "").strip()
        s.secret = (props.get("nexmo.api.secret") or "").strip()
        s.url = (props.get("nexmo.url") or DEFAULT_URL).strip()
        s.sender = (props.get("nexmo.from") or "Blynk").strip()
        return s

    @property
    def configured(self):
        return bool(self.key and self.secret)


def send_sms(settings, to, text):
    """Submit one SMS; raise ProviderError when Nexmo does not accept it."""
    if not settings.configured:
        raise ProviderError("SMS is not configured: set nexmo.api.key and nexmo.api.secret in sms.properties")
    form = urllib.parse.urlencode({"api_key": settings.key, "api_secret": settings.secret,
                                   "from": settings.sender, "to": to, "text": text})
    status, body = post(settings.url, form.encode("utf-8"), {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise ProviderError(f"Nexmo answered {status} {snippet(body)}", status)
    try:
        message = json.loads(body)["messages"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError(f"unexpected Nexmo answer: {snippet(body)}") from None
    if str(message.get("status")) != "0":
        raise ProviderError(f"Nexmo refused the SMS: {message.get('error-text') or message.get('status')}")
