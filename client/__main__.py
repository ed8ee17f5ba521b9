"""``python -m client`` and the ``client`` console script."""

from __future__ import annotations

import logging
import sys

from client.cli import app
from service.grpc_callers import quiet_grpc_core


class _EchoedLogRecords(logging.Handler):
    """Prints the client library's warnings as the commands print their own (``warning: ...``
    on stderr): without a handler, Python's last resort printed them bare among those."""

    def emit(self, record: logging.LogRecord) -> None:
        # Through sys.stderr, not click: under progress bars on a terminal rich stands in for
        # it and prints above them; click writes to the stream beneath, and the warning was
        # glued to a bar's line (a review, 2026-12-06).
        print(f"{record.levelname.lower()}: {self.format(record)}", file=sys.stderr, flush=True)


def main() -> None:
    # client.cli imports grpc inside the commands, so this comes before it.
    quiet_grpc_core()
    logging.getLogger("client").addHandler(_EchoedLogRecords(logging.WARNING))
    app(prog_name="client")


if __name__ == "__main__":
    main()
