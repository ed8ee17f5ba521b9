"""``python -m client`` and the ``client`` console script."""

from __future__ import annotations

from client.cli import app


def main() -> None:
    app(prog_name="client")


if __name__ == "__main__":
    main()
