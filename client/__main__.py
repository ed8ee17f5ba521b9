"""``python -m client`` and the ``client`` console script."""

from __future__ import annotations

from client.cli import app
from service.grpc_callers import quiet_grpc_core


def main() -> None:
    # client.cli imports grpc inside the commands, so this comes before it.
    quiet_grpc_core()
    app(prog_name="client")


if __name__ == "__main__":
    main()
