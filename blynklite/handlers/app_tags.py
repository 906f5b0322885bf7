"""Tags from the app (spec/app.md §3, §5.3): CREATE/UPDATE/DELETE/GET_TAGS.

Owns: the tag checks (id from 100000, a name of 1–40 characters unique in the dashboard, at most 25
devices, at most `user.tags.limit` tags in a dashboard). Never does: route writes; a write to a tag id
reaches its devices through `automation.targets.device_ids`.

Invariant: tags stay plain JSON objects `{"id", "name", "deviceIds"}` in `dash.tags`, the shape the
Java server writes, with `deviceIds` always a list of ints.
"""
import json

from ..codec import json_text
from ..codec.body import parse_int
from ..codec.commands import Command, illegal_body, illegal_command, not_allowed
from . import app_profile

FIRST_TAG_ID = 100_000          # target ids below are devices (spec/commands.md §3)
FIRST_SELECTOR_ID = 200_000     # and from here Device Selector widgets
MAX_TAG_NAME = 40               # upstream Tag.isNotValid
MAX_DEVICES_PER_TAG = 25        # upstream MAX_NUMBER_OF_DEVICE_PER_TAG


def _request(session, text):
    """`dashId\\0tagJson` → (dash, tag dict); ILLEGAL_COMMAND for a missing part or an invalid tag."""
    parts = text.split("\0", 1)
    if len(parts) < 2:
        raise illegal_command("tag request needs dash id and JSON")
    dash_id = parse_int(parts[0])
    if not parts[1]:
        raise illegal_command("empty tag")
    dash = app_profile.dashboard_or_fail(session, dash_id)
    return dash, _parse_tag(parts[1])


def _parse_tag(text):
    try:
        data = json_text.loads(text)
    except ValueError:
        raise illegal_body("tag JSON does not parse") from None
    if not isinstance(data, dict):
        raise illegal_body("tag JSON must be an object")
    tag_id, name, device_ids = data.get("id", 0), data.get("name"), data.get("deviceIds") or []
    if not isinstance(tag_id, int) or not isinstance(device_ids, list) \
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in device_ids):
        raise illegal_body("tag id and device ids must be numbers")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_TAG_NAME or tag_id < FIRST_TAG_ID \
            or len(device_ids) > MAX_DEVICES_PER_TAG:
        raise illegal_command("tag is not valid")
    return {"id": tag_id, "name": name, "deviceIds": device_ids}


def tag_json(tag):
    """A tag as Jackson writes it: an empty device list is left out."""
    out = {"id": tag["id"], "name": tag["name"]}
    if tag.get("deviceIds"):
        out["deviceIds"] = tag["deviceIds"]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _find(dash, tag_id):
    for tag in dash.tags:
        if isinstance(tag, dict) and tag.get("id") == tag_id:
            return tag
    return None


def _changed(session, dash):
    session.user.last_modified_ts = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)


def create_tag(session, msg_id, text):
    dash, tag = _request(session, text)
    for existing in dash.tags:
        if isinstance(existing, dict) and (existing.get("id") == tag["id"]
                                           or existing.get("name") == tag["name"]):
            raise illegal_command("a tag with this id or name exists")
    if len(dash.tags) >= session.server.config["user.tags.limit"]:
        # Upstream reads user.tags.limit but never checks it; we do, as user.devices.limit is checked.
        raise not_allowed("user.tags.limit reached")
    app_profile.ensure_room(session, tag)
    dash.tags.append(tag)
    _changed(session, dash)
    session.send(Command.CREATE_TAG, msg_id, tag_json(tag))


def update_tag(session, msg_id, text):
    dash, tag = _request(session, text)
    existing = _find(dash, tag["id"])
    if existing is None:
        raise illegal_command("no such tag")
    app_profile.ensure_room(session, tag, existing)
    existing["name"], existing["deviceIds"] = tag["name"], tag["deviceIds"]
    _changed(session, dash)
    session.ok(msg_id)


def delete_tag(session, msg_id, text):
    parts = text.split("\0")
    if len(parts) < 2:
        raise illegal_command("delete tag needs dash id and tag id")
    dash_id, tag_id = parse_int(parts[0]), parse_int(parts[1])
    dash = app_profile.dashboard_or_fail(session, dash_id)
    tag = _find(dash, tag_id)
    if tag is None:
        raise illegal_command("no such tag")
    dash.tags.remove(tag)
    _changed(session, dash)
    session.ok(msg_id)


def get_tags(session, msg_id, text):
    dash = app_profile.dashboard_or_fail(session, parse_int(text))
    tags = [json.loads(tag_json(t)) for t in dash.tags if isinstance(t, dict)]
    session.send(Command.GET_TAGS, msg_id, json.dumps(tags, ensure_ascii=False, separators=(",", ":")))


HANDLERS = {
    Command.CREATE_TAG: create_tag,
    Command.UPDATE_TAG: update_tag,
    Command.DELETE_TAG: delete_tag,
    Command.GET_TAGS: get_tags,
}
