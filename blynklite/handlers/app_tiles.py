"""Device Tiles from the app (spec/app.md §3, §4.7): tile templates and the widgets inside them.

A DEVICE_TILES widget keeps `templates` (each `{id, templateId, name, widgets, deviceIds, pin, ...}`)
and `tiles` (one `{deviceId, templateId, pin}` per device shown with a template). Owns: the template
commands and the 4-field CREATE/UPDATE/DELETE_WIDGET forms that edit a template's widgets. Never does:
timers inside templates (automation) or the value routing of device writes (the model's pin index).

Invariant: after every change the `tiles` list holds exactly one tile per (template, device id in that
template's `deviceIds`), keeping the value a tile already had for the same device and pin.
"""
from ..codec.body import parse_long as java_parse_long, split
from ..codec.commands import Status, illegal_body, illegal_command, not_allowed
from ..model import widgets as W
from . import app_profile

TEMPLATE_ID_PREFIX = "TMPL"     # upstream names a template without templateId "TMPL<id>"
TEMPLATE_MAIL_SUBJECT = "Template ID for {name}"
TEMPLATE_MAIL_BODY = ("<html><body><p>Template <b>{name}</b></p><p>Template ID: <b>{template_id}</b></p>"
                      "<p>Put it in your device's firmware as BLYNK_TEMPLATE_ID.</p></body></html>")


def parse_long(text):
    return java_parse_long(text.strip())


def _dash(session, text):
    return app_profile.dashboard_or_fail(session, parse_long(text))


def tiles_widget(dash, widget_id):
    widget = dash.widget(widget_id)
    if widget is None:
        raise illegal_command("no such widget")
    if W.kind(widget) != "DEVICE_TILES":
        raise illegal_command("widget is not Device Tiles")
    widget.setdefault("templates", [])
    widget.setdefault("tiles", [])
    return widget


def templates_of(tiles):
    return [t for t in tiles.get("templates") or () if isinstance(t, dict)]


def template_index(tiles, template_id):
    for index, template in enumerate(templates_of(tiles)):
        if template.get("id") == template_id:
            return index
    raise illegal_command("no such tile template")


def widget_in_tiles(dash, widget_id):
    """A widget inside any Device Tiles template of the dashboard, or None."""
    for tiles in dash.widgets:
        if W.kind(tiles) != "DEVICE_TILES":
            continue
        for template in templates_of(tiles):
            for widget in template.get("widgets") or ():
                if isinstance(widget, dict) and W.widget_id(widget) == widget_id:
                    return widget
    return None


def _parse_template(session, text):
    data = app_profile.parse_json(session, text, "user.widget.max.size.limit")
    if not isinstance(data.get("id", 0), int) or not isinstance(data.get("deviceIds") or [], list) \
            or not isinstance(data.get("widgets") or [], list):
        raise illegal_body("not a tile template")
    data.setdefault("id", 0)
    data["deviceIds"] = [d for d in data.get("deviceIds") or () if isinstance(d, int)]
    data["widgets"] = [w for w in data.get("widgets") or () if isinstance(w, dict)]
    return data


def recreate_tiles(tiles, new_template, old_template):
    """Upstream's recreateTilesIfNecessary: one tile per device of the changed template."""
    if old_template is not None and new_template.get("deviceIds") == old_template.get("deviceIds") \
            and new_template.get("pin") is not None and new_template.get("pin") == old_template.get("pin"):
        return
    old_tiles = [t for t in tiles.get("tiles") or () if isinstance(t, dict)]
    rebuilt = []
    for template in templates_of(tiles):
        if template.get("id") != new_template["id"]:
            rebuilt += [t for t in old_tiles if t.get("templateId") == template.get("id")]
            continue
        for device_id in new_template["deviceIds"]:
            tile = {"deviceId": device_id, "templateId": new_template["id"]}
            stream = new_template.get("pin")
            if isinstance(stream, dict):
                tile["pin"] = _kept_value(old_tiles, new_template["id"], device_id, dict(stream))
            rebuilt.append(tile)
    tiles["tiles"] = rebuilt


def _kept_value(old_tiles, template_id, device_id, stream):
    stream.pop("value", None)
    for old in old_tiles:
        old_stream = old.get("pin")
        if old.get("templateId") == template_id and old.get("deviceId") == device_id \
                and isinstance(old_stream, dict) and old_stream.get("value") is not None \
                and old_stream.get("pin") == stream.get("pin") \
                and old_stream.get("pinType") == stream.get("pinType"):
            stream["value"] = old_stream["value"]
    return stream


def _changed(session, dash):
    dash.widgets_changed()
    app_profile._touch(session, dash)


# -- templates -------------------------------------------------------------------------------------
def _template_request(session, text):
    parts = text.split("\0", 2)
    if len(parts) < 3:
        raise illegal_command("tile template request needs dash id, widget id and JSON")
    dash = _dash(session, parts[0])
    widget_id = parse_long(parts[1])
    if not parts[2]:
        raise illegal_command("empty tile template")
    return dash, tiles_widget(dash, widget_id), _parse_template(session, parts[2])


def create_tile_template(session, msg_id, text):
    dash, tiles, template = _template_request(session, text)
    if not template.get("templateId"):
        template["templateId"] = f"{TEMPLATE_ID_PREFIX}{template['id']}"
    if any(t.get("id") == template["id"] for t in templates_of(tiles)):
        raise not_allowed("a tile template with this id exists")
    app_profile.ensure_room(session, template)
    tiles["templates"].append(template)
    recreate_tiles(tiles, template, None)
    _changed(session, dash)
    session.ok(msg_id)


def update_tile_template(session, msg_id, text):
    dash, tiles, template = _template_request(session, text)
    index = template_index(tiles, template["id"])
    old = tiles["templates"][index]
    template["widgets"] = old.get("widgets") or []      # the template's widgets have their own commands
    app_profile.ensure_room(session, template, old)
    tiles["templates"][index] = template
    recreate_tiles(tiles, template, old)
    _changed(session, dash)
    session.ok(msg_id)


def delete_tile_template(session, msg_id, text):
    parts = split(text)
    if len(parts) < 3:
        raise illegal_command("delete tile template needs dash id, widget id and template id")
    dash = _dash(session, parts[0])
    tiles = tiles_widget(dash, parse_long(parts[1]))
    template_id = parse_long(parts[2])
    template = tiles["templates"].pop(template_index(tiles, template_id))
    session.user.energy += sum(W.price(w) for w in template.get("widgets") or ())
    tiles["tiles"] = [t for t in tiles["tiles"]
                      if not (isinstance(t, dict) and t.get("templateId") == template_id)]
    _changed(session, dash)
    session.ok(msg_id)


def template_email(session, msg_id, parts):
    """EMAIL `template\\0dashId\\0tilesId\\0templateId`: a template's id, mailed to the account."""
    if len(parts) < 4:
        raise illegal_command("template mail needs dash id, widget id and template id")
    dash = _dash(session, parts[1])
    tiles = tiles_widget(dash, parse_long(parts[2]))
    template = tiles["templates"][template_index(tiles, parse_long(parts[3]))]
    name = template.get("name") or ""
    body = TEMPLATE_MAIL_BODY.format(name=name, template_id=template.get("templateId") or "")
    session.server.notifier.mail(session.user.email, TEMPLATE_MAIL_SUBJECT.format(name=name), body, True,
                                 lambda error: session.respond(
                                     msg_id, Status.OK if error is None else Status.NOTIFICATION_ERROR))


# -- widgets inside a template: the 4-field CREATE_WIDGET, and UPDATE/DELETE_WIDGET finding them ---
def create_template_widget(session, msg_id, text):
    """`dashId\0tilesId\0templateId\0widgetJson` (app_profile.create_widget hands these over)."""
    parts = text.split("\0", 3)
    dash = _dash(session, parts[0])
    tiles_id, template_id = parse_long(parts[1]), parse_long(parts[2])
    if not parts[3]:
        raise illegal_command("empty widget")
    widget = app_profile.checked_widget(session, parts[3])
    if dash.widget(W.widget_id(widget)) is not None or widget_in_tiles(dash, W.widget_id(widget)) is not None:
        raise not_allowed("widget id exists")
    app_profile.ensure_room(session, widget)
    app_profile._charge(session, W.price(widget))
    tiles = tiles_widget(dash, tiles_id)
    template = tiles["templates"][template_index(tiles, template_id)]
    template.setdefault("widgets", []).append(widget)
    _changed(session, dash)
    session.ok(msg_id)


def template_holding(dash, widget_id):
    """(template, index of the widget in it) for a widget inside Device Tiles, or (None, -1)."""
    for tiles in dash.widgets:
        if W.kind(tiles) != "DEVICE_TILES":
            continue
        for template in templates_of(tiles):
            for index, widget in enumerate(template.get("widgets") or ()):
                if isinstance(widget, dict) and W.widget_id(widget) == widget_id:
                    return template, index
    return None, -1


def update_template_widget(session, dash, widget):
    """UPDATE_WIDGET of a widget inside a template; False when no template holds it."""
    template, index = template_holding(dash, W.widget_id(widget))
    if template is None:
        return False
    if W.kind(template["widgets"][index]) != W.kind(widget):
        raise illegal_command("widget type changed")
    app_profile.ensure_room(session, widget, template["widgets"][index])
    template["widgets"][index] = widget
    _changed(session, dash)
    return True


def delete_template_widget(session, dash, widget_id):
    """DELETE_WIDGET of a widget inside a template (its price refunded); False when none holds it."""
    template, index = template_holding(dash, widget_id)
    if template is None:
        return False
    session.user.energy += W.price(template["widgets"].pop(index))
    _changed(session, dash)
    return True
