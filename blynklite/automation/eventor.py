"""The Eventor widget (spec/behaviours.md §8, upstream `EventorProcessor`): rules `when <pin> <condition>
then <actions>`, run by the server on every write to the rule's pin.

Owns: the compiled rules of each Eventor widget and their edge state (`processed`, in memory only, as
upstream: a restart or an edit of the widget re-arms every rule). Never does: scanning widgets on a
write (the pin index of model/watchers.py calls `on_write` only for pins a rule watches), blocking
I/O (mail, push and tweets leave through the notifier's worker pool).

Invariant: a rule fires once when its condition becomes true and re-arms when a later value makes it
false; an action that fails logs one line and never stops the other actions, rules or the write.
"""
import re

from ..codec.body import PIN_LETTERS
from ..codec.commands import Command, MsgId
from ..logger import get_logger
from ..model import watchers as WS
from . import output, targets

log = get_logger("blynklite.eventor")

# Writes that trigger rules: not the server's own (timers, Eventor actions, webhook answers).
TRIGGERING_SOURCES = frozenset((WS.DEVICE, WS.APP, WS.HTTP, WS.BRIDGE, WS.BLUETOOTH))
# Upstream NumberUtil.NO_RESULT: a value that is not a number compares as Double.MIN_VALUE.
NOT_A_NUMBER = 5e-324
PUSH_MAX, TWEET_MAX = 255, 140      # the same body limits as a device's push and tweet
SECONDS_PER_DAY = 86400
CONDITIONS = ("GT", "GTE", "LT", "LTE", "EQ", "NEQ", "BETWEEN", "NOT_BETWEEN", "CHANGED",
              "STR_EQUAL", "STR_NOT_EQUAL")
ACTIONS = ("SETPIN", "SET_PROP", "NOTIFY", "MAIL", "TWIT")
TIMED_ACTIONS = ("SETPIN", "NOTIFY")      # what a time-triggered rule runs (upstream TimerWorker)
# Upstream's statistics code for an Eventor action run (Command.EVENTOR, handlers/admin_stats.py).
EVENTOR_STAT = 53
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?$")


def parse_double(text):
    """Java's Double.parseDouble where upstream's fast parser agrees; NOT_A_NUMBER otherwise."""
    text = text.strip()
    if not _NUMBER.match(text):
        return NOT_A_NUMBER
    return float(text.rstrip("dDfF"))


# -- validation (CREATE_WIDGET / UPDATE_WIDGET / dashboards: upstream's Jackson would refuse) --------
def validate(widget):
    """ValueError when an Eventor widget's JSON would not parse upstream."""
    rules = widget.get("rules")
    if rules is None:
        return
    if not isinstance(rules, list):
        raise ValueError("rules must be a list")
    for rule in rules:
        if not isinstance(rule, dict):
            raise ValueError("a rule must be an object")
        _check_stream(rule.get("triggerPin"), "triggerPin")
        _check_condition(rule.get("condition"))
        actions = rule.get("actions")
        if actions is not None and not isinstance(actions, list):
            raise ValueError("actions must be a list")
        for action in actions or ():
            _check_action(action)
        if rule.get("triggerTime") is not None:
            _check_time(rule["triggerTime"])


def _check_stream(stream, what):
    if stream is None:
        return
    if not isinstance(stream, dict):
        raise ValueError(f"{what} must be an object")
    if stream.get("pinType") is not None and stream["pinType"] not in PIN_LETTERS:
        raise ValueError(f"{what}: unknown pin type")
    if stream.get("pin") is not None and not _is_int(stream["pin"]):
        raise ValueError(f"{what}: pin must be a number")


def _check_condition(condition):
    if condition is None:
        return
    if not isinstance(condition, dict) or condition.get("type") not in CONDITIONS:
        raise ValueError("unknown condition type")
    kind = condition["type"]
    fields = ("left", "right") if kind in ("BETWEEN", "NOT_BETWEEN") else ("value",)
    for field in fields:
        value = condition.get(field)
        if kind in ("CHANGED", "STR_EQUAL", "STR_NOT_EQUAL"):
            if value is not None and not isinstance(value, (str, int, float)):
                raise ValueError("condition value must be a string")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))
                                    or (isinstance(value, str) and not _NUMBER.match(value.strip()))):
            raise ValueError("condition value must be a number")


def _check_action(action):
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        raise ValueError("unknown action type")
    _check_stream(action.get("pin") or action.get("dataStream"), "action pin")
    for field in ("value", "message", "subject"):
        if action.get(field) is not None and not isinstance(action[field], (str, int, float)):
            raise ValueError(f"action {field} must be a string")


def _check_time(trigger_time):
    if not isinstance(trigger_time, dict):
        raise ValueError("triggerTime must be an object")
    if trigger_time.get("time") is not None and not _is_int(trigger_time["time"]):
        raise ValueError("triggerTime.time must be a number")
    days = trigger_time.get("days")
    if days is not None and (not isinstance(days, list) or not all(_is_int(d) for d in days)):
        raise ValueError("triggerTime.days must be numbers")
    zone = trigger_time.get("tzName")
    if zone is not None:
        zone_info(zone)      # raises ValueError for a zone Java's ZoneId.of would refuse


def zone_info(name):
    from zoneinfo import ZoneInfo
    try:
        return ZoneInfo(name)
    except Exception:
        raise ValueError(f"unknown time zone {name!r}") from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# -- compiled rules ------------------------------------------------------------------------------------
class Rule:
    __slots__ = ("pin_type", "pin", "condition", "actions", "time", "days", "zone", "processed")

    def __init__(self, data):
        trigger = data.get("triggerPin") or {}
        self.pin_type = trigger.get("pinType")
        self.pin = trigger.get("pin")
        self.condition = data.get("condition")
        self.actions = [a for a in data.get("actions") or () if valid_action(a)]
        self.time = self.days = self.zone = None
        timing = data.get("triggerTime")
        if isinstance(timing, dict) and _is_int(timing.get("time")) and 0 <= timing["time"] < SECONDS_PER_DAY:
            self.time = timing["time"]
            self.days = frozenset(timing.get("days") or ())
            self.zone = timing.get("tzName") or "UTC"
        self.processed = False

    @property
    def watches_pin(self):
        """Upstream `Rule.isReady`: a trigger pin, a condition and actions."""
        return (self.pin_type in PIN_LETTERS and _is_int(self.pin) and isinstance(self.condition, dict)
                and bool(self.actions))

    def matches(self, text, number):
        condition = self.condition
        kind = condition.get("type")
        if kind == "CHANGED":
            if text == _text(condition.get("value")):
                return False
            condition["value"] = text      # upstream keeps the last value in the condition itself
            return True
        if kind == "STR_EQUAL":
            return text == _text(condition.get("value"))
        if kind == "STR_NOT_EQUAL":
            return text != _text(condition.get("value"))
        if kind in ("BETWEEN", "NOT_BETWEEN"):
            left, right = _number(condition.get("left")), _number(condition.get("right"))
            inside = left < number < right
            return inside if kind == "BETWEEN" else not inside
        value = _number(condition.get("value"))
        return {"GT": number > value, "GTE": number >= value, "LT": number < value,
                "LTE": number <= value, "EQ": number == value, "NEQ": number != value}.get(kind, False)


def _text(value):
    return None if value is None else str(value)


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return parse_double(str(value)) if value is not None else 0.0


def valid_action(action):
    """Upstream `isValid` per action type."""
    if not isinstance(action, dict):
        return False
    kind = action.get("type")
    if kind in ("SETPIN", "SET_PROP"):
        stream = action.get("pin")
        ok = (isinstance(stream, dict) and stream.get("pinType") in PIN_LETTERS and _is_int(stream.get("pin"))
              and stream["pin"] > -1 and action.get("value") is not None)
        return ok and (kind == "SETPIN" or (bool(action.get("property")) and action.get("value") != ""))
    if kind in ("NOTIFY", "TWIT", "MAIL"):
        return bool(action.get("message"))
    return False


class Eventor:
    def __init__(self, server):
        self.server = server
        self._compiled = {}      # id(widget) -> (widget, [Rule])

    def rules_of(self, widget):
        entry = self._compiled.get(id(widget))
        if entry is None or entry[0] is not widget:
            rules = [Rule(r) for r in widget.get("rules") or () if isinstance(r, dict) and r.get("isActive")]
            entry = self._compiled[id(widget)] = (widget, rules)
        return entry[1]

    def forget_unused(self, live_widgets):
        """Drop compiled rules of widgets no longer in any profile (after a profile change)."""
        live = {id(w) for w in live_widgets}
        for key in [k for k in self._compiled if k not in live]:
            del self._compiled[key]

    # -- the pin index (model/watchers.py provider) -------------------------------------------------
    def watched_pins(self, user, dash):
        for widget in dash.widgets:
            if widget.get("type") != "EVENTOR":
                continue
            device_id = widget.get("deviceId") or 0
            pins = {(r.pin_type, r.pin) for r in self.rules_of(widget) if r.watches_pin}
            for pin_type, pin in pins:
                yield device_id, pin_type, pin, self._callback(widget)

    def _callback(self, widget):
        return lambda *write: self.on_write(widget, *write)

    # -- a write to a watched pin (model/watchers.py arguments) --------------------------------------
    def on_write(self, widget, user, dash, device_id, pin_type, pin, value, source, origin):
        if source not in TRIGGERING_SOURCES or not dash.is_active:
            return
        number = parse_double(value)
        for rule in self.rules_of(widget):
            if not rule.watches_pin or rule.pin != pin or rule.pin_type != pin_type:
                continue
            if rule.matches(value, number):
                if not rule.processed:
                    rule.processed = True
                    self.run_actions(user, dash, device_id, rule.actions, value)
            else:
                rule.processed = False

    def run_actions(self, user, dash, device_id, actions, trigger_value):
        for action in actions:
            try:
                RUN[action["type"]](self, user, dash, device_id, action, trigger_value)
                self.server.stats[EVENTOR_STAT] += 1    # as upstream: an action that ran, not one that failed
            except Exception as error:
                log.warning("eventor action %s of %s failed: %r", action.get("type"), user.email, error)

    # -- timed rules (run by automation/timers.py) --------------------------------------------------
    def run_timed(self, user, dash, widget, rule):
        device_ids = targets.device_ids(dash, widget.get("deviceId") or 0)
        for action in rule.actions:
            if action["type"] == "SETPIN" and device_ids:
                output.set_pin(self.server, user, dash, device_ids, action["pin"], str(action["value"]),
                               MsgId.INTERNAL, WS.TIMER)
            elif action["type"] == "NOTIFY":
                push(self.server, user, dash, str(action["message"]))


# -- actions -----------------------------------------------------------------------------------------
def set_pin(eventor, user, dash, device_id, action, trigger_value):
    output.set_pin(eventor.server, user, dash, [device_id], action["pin"], str(action["value"]),
                   MsgId.EVENTOR, WS.EVENTOR)


def set_property(eventor, user, dash, device_id, action, trigger_value):
    from ..handlers import properties
    stream, prop, value = action["pin"], action["property"], str(action["value"])
    body = f"{stream['pin']}\0{prop}\0{value}"
    output.to_apps(eventor.server, user, dash.id, device_id, Command.SET_WIDGET_PROPERTY, MsgId.EVENTOR, body)
    try:
        properties.apply_from_device(user, dash, device_id, stream["pin"], prop, value)
    except ValueError:
        log.info("eventor of %s: bad value %r for property %s", user.email, value, prop)
    dash.updated_at = eventor.server.reactor.wall_ms
    eventor.server.hub.dirty.add(user)


def notify(eventor, user, dash, device_id, action, trigger_value):
    push(eventor.server, user, dash, str(action["message"]).replace("/pin/", trigger_value))


def push(server, user, dash, body):
    if not body or len(body) > PUSH_MAX:
        log.debug("eventor push of %s: empty or too long", user.email)
        return
    widget = dash.widget_of_type("NOTIFICATION")
    if widget is None or not (widget.get("androidTokens") or widget.get("iOSTokens")):
        log.debug("eventor push of %s: no Notification widget with a phone", user.email)
        return
    server.notifier.push(user, widget, body, dash.id)


def mail(eventor, user, dash, device_id, action, trigger_value):
    notifier = eventor.server.notifier
    if not notifier.mail_left_today(user):
        log.info("eventor mail of %s skipped: daily mail limit reached", user.email)
        return
    widget = dash.widget_of_type("EMAIL")
    to = (widget or {}).get("to") or user.email
    body = str(action["message"]).replace("/pin/", trigger_value)
    subject = str(action.get("subject") or "")
    notifier.count_mail(user)
    notifier.mail(to, subject, body, False)


def tweet(eventor, user, dash, device_id, action, trigger_value):
    body = str(action["message"]).replace("/pin/", trigger_value)
    widget = dash.widget_of_type("TWITTER")
    if not body or len(body) > TWEET_MAX or widget is None or not widget.get("token") or not widget.get("secret"):
        log.debug("eventor tweet of %s: no Twitter widget with a token, or a bad body", user.email)
        return
    eventor.server.notifier.tweet(widget["token"], widget["secret"], body)


RUN = {"SETPIN": set_pin, "SET_PROP": set_property, "NOTIFY": notify, "MAIL": mail, "TWIT": tweet}
