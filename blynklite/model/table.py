"""The Table widget's rows (upstream `Table`, `Row`): the row model a device drives with writes to the
table's pin - `clr`, `add id name value`, `update id name value`, `pick index`, `select id`,
`deselect id`, `order from to` - kept in the widget itself (`rows`, `currentRowIndex`), so it is saved
in the profile and replayed by APP_SYNC as upstream.

Owns: applying one table command to a widget dict. Never does: sending anything.

Invariant: a table never holds more than `rows_pool_size` rows (`table.rows.pool.size`); adding to a
full table drops the oldest row. A malformed command changes no row.
"""
from ..logger import get_logger

log = get_logger("blynklite.table")

DEFAULT_ROWS_POOL_SIZE = 100        # upstream TableLimitedQueue, `table.rows.pool.size`


class TableRows:
    """Settings shared by every table of the server (set once from server.properties)."""
    pool_size = DEFAULT_ROWS_POOL_SIZE


def apply(widget, value):
    """Apply the table command in `value` (fields separated by NUL) to the widget's rows."""
    fields = value.split("\0")
    command = COMMANDS.get(fields[0])
    if command is None:
        return
    try:
        command(widget, fields)
    except (ValueError, IndexError, TypeError):
        log.debug("table %s: malformed %r command ignored", widget.get("id"), fields[0])


def rows_of(widget):
    rows = widget.get("rows")
    if not isinstance(rows, list):
        rows = widget["rows"] = []
    return rows


def _row(rows, row_id):
    for row in rows:
        if isinstance(row, dict) and row.get("id") == row_id:
            return row
    return None


def clear(widget, fields):
    rows_of(widget).clear()
    widget["currentRowIndex"] = 0


def add(widget, fields):
    if len(fields) < 4:
        return
    row_id, name, value = int(fields[1]), fields[2], fields[3]
    rows = rows_of(widget)
    row = _row(rows, row_id)
    if row is not None:
        row["name"], row["value"] = name, value
        return
    rows.append({"id": row_id, "name": name, "value": value, "isSelected": True})
    while len(rows) > max(1, TableRows.pool_size):
        rows.pop(0)


def update(widget, fields):
    if len(fields) < 4:
        return
    row = _row(rows_of(widget), int(fields[1]))
    if row is not None:
        row["name"], row["value"] = fields[2], fields[3]


def pick(widget, fields):
    if len(fields) > 1:
        widget["currentRowIndex"] = int(fields[1])


def select(widget, fields, selected=True):
    if len(fields) > 1:
        row = _row(rows_of(widget), int(fields[1]))
        if row is not None:
            row["isSelected"] = selected


def deselect(widget, fields):
    select(widget, fields, False)


def order(widget, fields):
    """`order from to`: move the row at index `from` to index `to` (the app's drag and drop)."""
    if len(fields) < 3:
        return
    rows = rows_of(widget)
    old, new = int(fields[1]), int(fields[2])
    if 0 <= old < len(rows) and 0 <= new < len(rows):
        rows.insert(new, rows.pop(old))


COMMANDS = {"clr": clear, "add": add, "update": update, "pick": pick, "select": select,
            "deselect": deselect, "order": order}


def sync_fields(widget):
    """APP_SYNC replays every row as `add\\0id\\0name\\0value\\0isSelected` in one `vm` message."""
    parts = []
    for row in rows_of(widget):
        if isinstance(row, dict):
            selected = "true" if row.get("isSelected") else "false"
            parts.append(f"add\0{row.get('id')}\0{row.get('name')}\0{row.get('value')}\0{selected}")
    return "\0".join(parts)


def validate(widget):
    """ValueError when a Table widget's JSON would not parse upstream."""
    rows = widget.get("rows")
    if rows is not None:
        if not isinstance(rows, list):
            raise ValueError("rows must be a list")
        for row in rows:
            if not isinstance(row, dict) or isinstance(row.get("id", 0), bool) \
                    or not isinstance(row.get("id", 0), int):
                raise ValueError("a row is {id (number), name, value, isSelected}")
            if not isinstance(row.get("isSelected", False), bool):
                raise ValueError("isSelected must be true or false")
    columns = widget.get("columns")
    if columns is not None and (not isinstance(columns, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), (str, type(None))) for c in columns)):
        raise ValueError("columns must be a list of {name}")
    for field in ("currentRowIndex",):
        if widget.get(field) is not None and (isinstance(widget[field], bool) or not isinstance(widget[field], int)):
            raise ValueError(f"{field} must be a number")
