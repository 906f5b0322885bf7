"""Notifications leave through the worker pool: mail, push, SMS and tweets (spec/behaviours.md §4).

Owns: the provider settings (read once, at first use, from the property files), handing each send
to a worker, logging its outcome with the reason, and calling back on the reactor thread with the
result. Never does: the upstream checks (handlers/notifications.py and the HTTP endpoints make
them) or any network call on the reactor thread.

Invariant: a full queue or a failing provider costs one log line and a callback, never an
exception on the reactor thread and never a delayed forward.
"""
from .logger import get_logger

log = get_logger("blynklite.notify")

MAILS_PER_DAY = 100        # per account, counted from its first mail of the window (upstream)
DAY = 24 * 3600.0


class Notifier:
    def __init__(self, server):
        self.server = server
        self._mail = self._push = self._sms = self._twitter = None
        self._mail_windows = {}     # user key -> (window start, mails sent in it)

    # -- settings, read at first use ------------------------------------------------------------
    @property
    def product(self):
        return self.server.config["product.name"]

    def mail_settings(self):
        if self._mail is None:
            from .notify.mail import MailSettings
            self._mail = MailSettings.from_properties(self.server.config.mail, self.product)
        return self._mail

    def push_settings(self):
        if self._push is None:
            from .notify.push import NONE, PushSettings
            try:
                self._push = PushSettings.from_properties(self.server.config.gcm, self.product)
            except ValueError as error:
                log.error("%s; pushes are not sent", error)
                self._push = PushSettings.from_properties({"push.provider": NONE}, self.product)
        return self._push

    def sms_settings(self):
        if self._sms is None:
            from .notify.sms import SmsSettings
            self._sms = SmsSettings.from_properties(self.server.config.sms)
        return self._sms

    def twitter_settings(self):
        if self._twitter is None:
            from .notify.twitter import TwitterSettings
            self._twitter = TwitterSettings.from_properties(self.server.config.twitter)
        return self._twitter

    # -- quotas -----------------------------------------------------------------------------------
    def mail_left_today(self, user):
        """Upstream's daily limit of e-mails per account (a window from its first mail)."""
        start, count = self._mail_windows.get(user.key, (self.server.reactor.now, 0))
        return self.server.reactor.now - start >= DAY or count < MAILS_PER_DAY

    def count_mail(self, user):
        now = self.server.reactor.now
        start, count = self._mail_windows.get(user.key, (now, 0))
        if now - start >= DAY:
            start, count = now, 0
        self._mail_windows[user.key] = (start, count + 1)

    # -- sending ----------------------------------------------------------------------------------
    def mail(self, to, subject, body, html=False, on_result=None, attachments=()):
        """Queue one mail; `on_result(error)` later (None on success). False if the queue is full."""
        from .notify.mail import send_mail
        return self._submit("mail", to, send_mail, (self.mail_settings(), to, subject, body, html, attachments),
                            on_result)

    def sms(self, to, text, on_result=None):
        from .notify.sms import send_sms
        return self._submit("SMS", to, send_sms, (self.sms_settings(), to, text), on_result)

    def tweet(self, token, secret, text, on_result=None):
        from .notify.twitter import send_tweet
        return self._submit("tweet", "Twitter", send_tweet, (self.twitter_settings(), token, secret, text),
                            on_result)

    def push(self, user, widget, body, dash_id, title=None):
        """Push to every phone of a Notification widget; dead tokens are removed from it."""
        from .notify.push import Push, send_push
        settings = self.push_settings()
        if not settings.configured:
            log.warning("push to %s not sent: no push provider (set push.provider in gcm.properties)",
                        user.email)
            return False
        push = Push(widget.get("androidTokens"), widget.get("iOSTokens"), body, title,
                    widget.get("priority", "normal"), dash_id)

        def done(dead_uids, error):
            if error is None and dead_uids:
                self._forget_dead_tokens(user, widget, dead_uids)
        return self._submit("push", user.email, send_push, (settings, push), None, done)

    def _forget_dead_tokens(self, user, widget, uids):
        for key in ("androidTokens", "iOSTokens"):
            for uid in uids:
                (widget.get(key) or {}).pop(uid, None)
        self.server.hub.mark_dirty(user)
        log.info("removed %d unregistered push token(s) of %s", len(uids), user.email)

    def _submit(self, kind, to, send, args, on_result, on_value=None):
        def done(result, error):
            if error is None:
                log.info("%s to %s sent", kind, to)
            else:
                log.warning("%s to %s failed: %s", kind, to, error)
            if on_value is not None:
                on_value(result, error)
            if on_result is not None:
                on_result(error)
        if not self.server.workers.submit(send, *args, on_done=done):
            log.warning("%s to %s not sent: the notification queue is full (notifications.queue.limit)", kind, to)
            return False
        return True
