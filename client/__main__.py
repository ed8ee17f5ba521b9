"""``python -m client`` and the ``client`` console script."""

from __future__ import annotations

import logging

import typer

from client.cli import app
from service.grpc_callers import quiet_grpc_core


class _EchoedLogRecords(logging.Handler):
    """Prints the client library's warnings as the commands print their own (``warning: ...``
    on stderr): without a handler, Python's last resort printed them bare among those."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"{record.levelname.lower()}: {self.format(record)}", err=True)


def main() -> None:
    # client.cli imports grpc inside the commands, so this comes before it.
    quiet_grpc_core()
    logging.getLogger("client").addHandler(_EchoedLogRecords(logging.WARNING))
    app(prog_name="client")


if __name__ == "__main__":
    main()
