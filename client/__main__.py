"""``python -m client`` and the ``client`` console script."""

from __future__ import annotations

import os

from client.cli import app


def main() -> None:
    # grpc's C core printed its own lines (a failed TLS handshake, at INFO) before the one-line
    # error; a user's own GRPC_VERBOSITY still wins.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    app(prog_name="client")


if __name__ == "__main__":
    main()
