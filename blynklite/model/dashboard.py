"""DashBoard (spec/app.md §5.2): a project with widgets, devices and tags."""
from . import widgets as W
from .device import Device
from .java_shape import widget_json
from .json_shape import Field, read_fields, write_fields

FIELDS = (
    Field("id", "id", 0, True),
    Field("parentId", "parent_id", -1, True),
    Field("isPreview", "is_preview", False, True),
    Field("name", "name"),
    Field("createdAt", "created_at", 0, True),
    Field("updatedAt", "updated_at", 0, True),
    Field("widgets", "widgets"),
    Field("devices", "devices"),
    Field("tags", "tags"),
    Field("theme", "theme", "Blynk"),
    Field("keepScreenOn", "keep_screen_on", False, True),
    Field("isAppConnectedOn", "is_app_connected_on", False, True),
    Field("isNotificationsOff", "is_notifications_off", False, True),
    Field("isShared", "is_shared", False, True),
    Field("isActive", "is_active", False, True),
    Field("widgetBackgroundOn", "widget_background_on", False, True),
    Field("color", "color", -1, True),
    Field("isDefaultColor", "is_default_color", True, True),
    Field("sharedToken", "shared_token"),
)
# Copied by UPDATE_DASH and UPDATE_PROJECT_SETTINGS (spec/app.md §4.6).
SETTINGS = ("name", "is_shared", "theme", "keep_screen_on", "is_app_connected_on",
            "is_notifications_off", "widget_background_on", "color", "is_default_color")
SETTINGS_FIELDS = tuple(f for f in FIELDS if f.attr in SETTINGS)


class DashBoard:
    # watch_index: model/watchers.py's per-pin index, None until the first write after a change.
    __slots__ = tuple(f.attr for f in FIELDS) + ("extra", "memory", "_pin_index", "watch_index")

    @classmethod
    def from_json(cls, data):
        if not isinstance(data, dict):
            raise ValueError("a dashboard must be a JSON object")
        dash = cls()
        dash.extra = read_fields(dash, data, FIELDS)
        if not isinstance(dash.id, int):
            raise ValueError("dashboard id must be a number")
        dash.widgets = [w for w in (dash.widgets or []) if isinstance(w, dict)]
        dash.devices = [Device.from_json(d) for d in (dash.devices or []) if isinstance(d, dict)]
        dash.tags = dash.tags or []
        dash.memory = W.WidgetMemory()
        dash._pin_index = None
        dash.watch_index = None
        return dash

    def to_json(self, private=True):
        out = write_fields(self, FIELDS)
        if self.widgets:      # in Java's shape: every declared field, defaults included
            out["widgets"] = [widget_json(w) for w in self.widgets]
        out["devices"] = [d.to_json(private) for d in self.devices]
        if not out["devices"]:
            del out["devices"]
        if not private:
            out.pop("sharedToken", None)
        out.update(self.extra)
        return out

    def apply_settings(self, data):
        """Every setting from `data`; one it lacks goes back to its default, as upstream."""
        for field in SETTINGS_FIELDS:
            setattr(self, field.attr, data.get(field.json, field.default))
        self.theme = self.theme or "Blynk"

    # -- devices ----------------------------------------------------------------------------------
    def device(self, device_id):
        for device in self.devices:
            if device.id == device_id:
                return device
        return None

    # -- widgets ----------------------------------------------------------------------------------
    def widgets_changed(self):
        """Call after any change to widgets or devices: per-pin caches and watcher indexes rebuild."""
        self._pin_index = None
        self.watch_index = None

    def widget(self, widget_id):
        for widget in self.widgets:
            if W.widget_id(widget) == widget_id:
                return widget
        return None

    def widget_of_type(self, wtype):
        for widget in self.widgets:
            if W.kind(widget) == wtype:
                return widget
        return None

    def matching_streams(self, device_id, pin_type, pin):
        """[(widget, stream)] that take a value written to (device, pin) — cached per pin."""
        index = self._pin_index
        if index is None:
            index = self._pin_index = {}
        key = (device_id, pin_type, pin)
        found = index.get(key)
        if found is None:
            found = index[key] = [
                (w, s) for w in self.widgets if W.target_of(w) == device_id
                for s in W.streams(w) if W.stream_matches(s, pin_type, pin)] + [
                (w, s) for w in self.widgets for tile_device, s in W.tile_streams(w)
                if tile_device == device_id and W.tile_matches(s, pin_type, pin)]
        return found

    def pin_modes(self, device_id):
        """The `pm` body for a device, or None when no digital/analog widget targets it."""
        parts = []
        for widget in self.widgets:
            mode = W.pin_mode(widget)
            if mode is None or W.target_of(widget) != device_id:
                continue
            for stream in W.streams(widget):
                if W.is_valid_stream(stream) and stream["pinType"] != "VIRTUAL":
                    parts += (str(stream["pin"]), mode)
        return "pm\0" + "\0".join(parts) if parts else None

    def energy_price(self):
        return 0 if self.parent_id not in (-1, None) else sum(W.price(w) for w in self.widgets)
