"""The Device Selector's switch from the app (upstream `MobileHardwareLogic.processDeviceSelectorCommand`):
`HARDWARE "dashId-selectorId\\0vu\\0selectorId\\0deviceId"` selects the device every widget bound to the
selector shows and controls.

Answered OK; echoed as APP_SYNC to the account's other apps of that dashboard; then every app seeing the
dashboard gets the selected device's stored values (APP_SYNC), as upstream. Writes to the selector's id
reach the selected device from then on (automation/targets.py `device_ids`), and reading widgets and
Timers bound to the selector follow it (automation/targets.py).
"""
from ..codec.body import parse_int, split
from ..codec.commands import Command, illegal_command


def select_device(session, msg_id, text, dash, pin_command):
    from .app import send_app_sync      # the app module imports this one
    fields = split(pin_command)
    if len(fields) < 3:
        raise illegal_command("vu needs the selector id and the device id")
    selector = dash.widget(parse_int(fields[1]))
    if selector is None:
        raise illegal_command("no such widget")
    if selector.get("type") != "DEVICE_SELECTOR":
        return
    selected = parse_int(fields[2])
    selector["value"] = selected
    server = session.server
    dash.updated_at = server.reactor.wall_ms
    server.hub.mark_dirty(session.user)
    session.ok(msg_id)
    server.echo_to_other_apps(session, Command.APP_SYNC, msg_id, text.encode("utf-8"), dash.id)
    for app in server.hub.session(session.user).apps_seeing(dash.id):
        send_app_sync(app, dash, selected)
