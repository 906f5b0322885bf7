"""EMAIL, PUSH_NOTIFICATION, SMS and TWEET from a device: upstream's checks and replies
(spec/commands.md §4.6–4.8), then the sending through `server.notifier` on the worker pool.

Replies as upstream: push and SMS are answered OK at once (a failure is only logged); mail when the
SMTP server took it (or NOTIFICATION_ERROR); a tweet OK on HTTP 200, NOTIFICATION_ERROR when
Twitter cannot be reached, and nothing on other HTTP statuses. A full queue gets no reply.
"""
import re

from ..codec.body import split
from ..codec.commands import Status, StatusError, illegal_command, not_allowed
from ..logger import get_logger

log = get_logger("blynklite.notifications")

PUSH_MAX, SMS_MAX, TWEET_MAX = 255, 160, 140
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]+$")


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


def _answer_when_sent(session, msg_id):
    """Callback for the worker's outcome: OK, or NOTIFICATION_ERROR with the reason logged."""
    def done(error):
        session.respond(msg_id, Status.OK if error is None else Status.NOTIFICATION_ERROR)
    return done


def placeholders(session, text, with_device_name=True):
    text = text.replace("{DEVICE_OWNER_EMAIL}", session.user.email)
    text = text.replace("{VENDOR_EMAIL}", session.server.config["vendor.email"])
    if with_device_name:
        text = text.replace("{DEVICE_NAME}", session.device.name or "")
    return text


def email(session, msg_id, text):
    dash = session.dash
    widget = dash.widget_of_type("EMAIL")
    if widget is None or not dash.is_active:
        raise not_allowed("no Mail widget or project not active")
    if not text:
        raise illegal_command("empty mail")
    notifier = session.server.notifier
    if not notifier.mail_left_today(session.user):
        raise StatusError(Status.QUOTA_LIMIT)
    parts = split(text, 2)
    if len(parts) < 2:
        raise illegal_command("mail needs subject and body")
    if _too_soon(session, "mail"):
        raise StatusError(Status.QUOTA_LIMIT)
    if widget.get("to"):
        to = widget["to"]
    elif len(parts) == 3:
        to = placeholders(session, parts.pop(0), with_device_name=False)
    else:
        to = session.user.email
    if not EMAIL_PATTERN.match(to):
        raise illegal_command("invalid recipient")
    subject, body = placeholders(session, parts[0]), placeholders(session, parts[1])
    html = widget.get("contentType") != "TEXT_PLAIN"
    if notifier.mail(to, subject, body, html, _answer_when_sent(session, msg_id)):
        notifier.count_mail(session.user)


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
    body = text.replace("{DEVICE_NAME}", session.device.name or "")
    if len(body) > PUSH_MAX:
        raise StatusError(Status.NOTIFICATION_INVALID_BODY)
    session.server.notifier.push(session.user, widget, body, dash.id)
    session.ok(msg_id)


def sms(session, msg_id, text):
    widget = _checked_widget(session, text, "SMS", SMS_MAX, lambda w: w.get("to"))
    session.server.notifier.sms(widget["to"], text)   # outcome only logged, as upstream
    session.ok(msg_id)


def tweet(session, msg_id, text):
    widget = _checked_widget(session, text, "TWITTER", TWEET_MAX, lambda w: w.get("token") and w.get("secret"))
    notifier = session.server.notifier
    if not notifier.twitter_settings().configured:
        # upstream sends the tweet unsigned and Twitter refuses it: no reply reaches the device
        log.warning("tweet from %s not sent: set oauth.consumerKey and oauth.consumerSecret in "
                    "twitter4j.properties", session.describe())
        return

    def done(error):
        if error is None:
            session.ok(msg_id)
        elif getattr(error, "status", None) is None:     # Twitter unreachable
            session.respond(msg_id, Status.NOTIFICATION_ERROR)
        # other HTTP statuses: no reply, as upstream
    notifier.tweet(widget["token"], widget["secret"], text, done)


def _checked_widget(session, text, widget_type, limit, authorised):
    if not text or len(text) > limit:
        raise StatusError(Status.NOTIFICATION_INVALID_BODY)
    dash = session.dash
    widget = dash.widget_of_type(widget_type)
    if widget is None or not dash.is_active or not authorised(widget):
        raise StatusError(Status.NOTIFICATION_NOT_AUTHORIZED)
    if _too_soon(session, widget_type):
        raise StatusError(Status.QUOTA_LIMIT)
    return widget
