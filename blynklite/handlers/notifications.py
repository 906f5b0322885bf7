"""EMAIL, PUSH_NOTIFICATION, SMS and TWEET from a device: upstream's checks and replies
(spec/commands.md §4.6–4.8).

Delivery through the worker pool is not part of this build yet: after every check passes, the
attempt is logged and answered as upstream answers an unconfigured provider — push is accepted (upstream
answers OK before sending), mail, SMS and tweets report NOTIFICATION_ERROR.
"""
import logging
import re

from ..codec.body import split
from ..codec.commands import Status, StatusError, illegal_command, not_allowed

log = logging.getLogger("blynklite.notifications")

PUSH_MAX, SMS_MAX, TWEET_MAX = 255, 160, 140
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _too_soon(session, kind):
    """Per connection and per kind: `notifications.frequency.user.quota.limit` seconds apart."""
    times = session.notify_times
    if times is None:
        times = session.notify_times = {}
    now = session.server.reactor.now
    last = times.get(kind)
    if last is not None and now - last < session.server.config["notifications.frequency.user.quota.limit"]:
        return True
    times[kind] = now
    return False


def _undeliverable(session, msg_id, kind, status):
    log.warning("%s: %s passed every check but no %s provider is available in this build",
                session.describe(), kind, kind)
    session.respond(msg_id, status)


def email(session, msg_id, text):
    dash = session.dash
    widget = dash.widget_of_type("EMAIL")
    if widget is None or not dash.is_active:
        raise not_allowed("no Mail widget or project not active")
    if not text:
        raise illegal_command("empty mail")
    parts = split(text)
    if len(parts) < 2:
        raise illegal_command("mail needs subject and body")
    if _too_soon(session, "mail"):
        raise StatusError(Status.QUOTA_LIMIT)
    to = widget.get("to") or (parts[0] if len(parts) >= 3 else session.user.email)
    to = to.replace("{DEVICE_OWNER_EMAIL}", session.user.email)
    if not EMAIL_PATTERN.match(to):
        raise illegal_command("invalid recipient")
    _undeliverable(session, msg_id, "mail", Status.NOTIFICATION_ERROR)


def push(session, msg_id, text):
    if not text or len(text) > PUSH_MAX:
        raise StatusError(Status.NOTIFICATION_INVALID_BODY)
    dash = session.dash
    if not dash.is_active:
        raise StatusError(Status.NO_ACTIVE_DASHBOARD)
    widget = dash.widget_of_type("NOTIFICATION")
    if widget is None or not (widget.get("androidTokens") or widget.get("iOSTokens")):
        raise StatusError(Status.NOTIFICATION_NOT_AUTHORIZED)
    if _too_soon(session, "push"):
        raise StatusError(Status.QUOTA_LIMIT)
    if len(text.replace("{DEVICE_NAME}", session.device.name or "")) > PUSH_MAX:
        raise StatusError(Status.NOTIFICATION_INVALID_BODY)
    _undeliverable(session, msg_id, "push", Status.OK)


def sms(session, msg_id, text):
    _simple(session, msg_id, text, "SMS", SMS_MAX, lambda w: w.get("to"))


def tweet(session, msg_id, text):
    _simple(session, msg_id, text, "TWITTER", TWEET_MAX, lambda w: w.get("token") and w.get("secret"))


def _simple(session, msg_id, text, widget_type, limit, authorised):
    if not text or len(text) > limit:
        raise StatusError(Status.NOTIFICATION_INVALID_BODY)
    dash = session.dash
    widget = dash.widget_of_type(widget_type)
    if widget is None or not dash.is_active or not authorised(widget):
        raise StatusError(Status.NOTIFICATION_NOT_AUTHORIZED)
    if _too_soon(session, widget_type):
        raise StatusError(Status.QUOTA_LIMIT)
    _undeliverable(session, msg_id, widget_type.lower(), Status.NOTIFICATION_ERROR)
