"""The service's log lines as JSON (``--log-format json``): one object per line.

Imports only the standard library: ``health`` logs through it too, where only the client is
installed (without the server's extra).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and an RPC's fields."""

    def format(self, record: logging.LogRecord) -> str:
        # With its UTC offset: a local time alone could not be lined up with other hosts'
        # logs, or with itself across a change of daylight saving time.
        logged_at = datetime.fromtimestamp(record.created).astimezone()
        entry: dict[str, Any] = {
            "ts": logged_at.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "rpc", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)
