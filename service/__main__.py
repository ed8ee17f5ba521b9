"""``python -m service`` and the ``latency-service`` console script."""

from __future__ import annotations

import sys

from service.cli import main as _cli_main


def main() -> None:
    """Console-script entry point: runs the CLI and exits with its status."""
    sys.exit(_cli_main())


if __name__ == "__main__":
    main()
