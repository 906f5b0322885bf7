"""Which devices a widget's `deviceId` means (spec/app.md §5.3): a device (< 100000), a tag
(100000-199999, its `deviceIds`) or a Device Selector widget (>= 200000, its selected device).

Owns nothing; reads the dashboard. Never changes it.
"""
TAG_START_ID = 100_000              # upstream Tag.START_TAG_ID
DEVICE_SELECTOR_START_ID = 200_000  # upstream DeviceSelector.DEVICE_SELECTOR_STARTING_ID


def device_ids(dash, target_id):
    """The device ids behind `target_id` on `dash` (empty when it names nothing)."""
    if not isinstance(target_id, int):
        return []
    if target_id < TAG_START_ID:
        return [target_id] if dash.device(target_id) is not None else []
    if target_id < DEVICE_SELECTOR_START_ID:
        for tag in dash.tags:
            if isinstance(tag, dict) and tag.get("id") == target_id:
                return [d for d in tag.get("deviceIds") or [] if isinstance(d, int)]
        return []
    selector = dash.widget(target_id)
    if selector is not None and selector.get("type") == "DEVICE_SELECTOR":
        return [selected_device(selector)] if selected_device(selector) is not None else []
    return []


def selected_device(selector):
    value = selector.get("value")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value) if value is not None else ""
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isascii() and digits.isdigit() and len(digits) < 20 else None


def targets_device(dash, target_id, device_id):
    """Upstream's `Target.isSelected`: does `target_id` include `device_id` right now?"""
    return device_id in device_ids(dash, target_id)
