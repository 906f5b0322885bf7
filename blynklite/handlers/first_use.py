"""Handler-table entries whose module is imported at the first command they get.

Owns: `on_first_use(module, commands)`, the one way a handler table names the handlers of rarely used
commands (publisher, clone, provisioning, tags, widgets, history) without importing their module, so
an idle server never loads it. The first of those commands imports `blynklite.handlers.<module>` and
calls that module's own `HANDLERS[command]`; later calls reuse it (one attribute check).
Never does: stand in for a hot-path command (HARDWARE, PING, APP_SYNC): those stay plain functions.

Invariant: an entry behaves as the handler it stands for (same arguments, result and exceptions, and
its `__name__` once loaded), and the commands a table lists for a module are the keys of that module's
HANDLERS (tests/test_idle_memory.py checks the app's table).
"""
PACKAGE = __name__.rpartition(".")[0]   # blynklite.handlers


class FirstUse:
    """`HANDLERS[command]` of blynklite.handlers.<module>, imported at the first call."""
    __slots__ = ("module", "command", "handler", "__name__")

    def __init__(self, module, command):
        self.module, self.command = module, command
        self.handler = None
        self.__name__ = f"{module}.HANDLERS[{command}]"

    def __call__(self, session, msg_id, text):
        handler = self.handler
        if handler is None:
            handler = self.load()
        return handler(session, msg_id, text)

    def load(self):
        # __import__ rather than importlib.import_module: `python3 -X importtime` then shows the load
        module = __import__(f"{PACKAGE}.{self.module}", fromlist=["HANDLERS"])
        handler = module.HANDLERS[self.command]
        self.handler, self.__name__ = handler, handler.__name__
        return handler


def on_first_use(module, commands):
    """{command: entry} for `commands`, all handled by blynklite.handlers.<module>'s HANDLERS."""
    return {command: FirstUse(module, command) for command in commands}
