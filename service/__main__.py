"""``python -m service`` and the ``latency-service`` console script."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from service.grpc_callers import quiet_grpc_core


def main() -> None:
    """Console-script entry point: runs the CLI and exits with its status."""
    if _command(sys.argv[1:]) == "health":
        quiet_grpc_core()
    # Imported after the default above: service.cli imports grpc (through service.errors).
    from service.cli import main as cli_main

    sys.exit(cli_main())


def _command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is neither an option nor the value
    after one (the main parser's options, --log-level and --log-format, take one each)."""
    after_option = False
    for arg in argv:
        if not after_option and not arg.startswith("-"):
            return arg
        after_option = arg.startswith("-") and "=" not in arg
    return None


if __name__ == "__main__":
    main()
