"""Command line: ``python -m service [serve|import-help|backup|health|gen-stubs]``.

Plain ``python -m service`` serves with the defaults. Heavy modules (torch via ``gp``) are
imported only by the commands that need them, so ``health`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from service import installed_version
from service.addresses import address_problem
from service.certificates import certificates_problem
from service.config import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_BATCH,
    ENV_ADDRESS,
    ENV_DATASET,
    ENV_FIT_ITERATIONS,
    ENV_LOG_FORMAT,
    ENV_LOG_LEVEL,
    ENV_MAX_BATCH,
    ENV_METRICS_ADDRESS,
    ENV_STORE,
    ENV_TLS_CA,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    ServiceConfig,
    store_path_from_env,
)
from service.errors import StartupError
from service.grpc_callers import ENV_CA_CERT, MAX_DEADLINE_S
from service.interrupts import sigterm_as_interrupt
from service.outputs import said_beside
from service.wording import missing_module_hint, no_tls_hint, quantity, tls_hint

if TYPE_CHECKING:
    import grpc

    from service.importer import ImportSummary
    from service.store import Store

#: The extra (pyproject.toml) that installs each module a command may lack: a client
#: installed alone has none of the service's modelling stack (gen-stubs: the tests').
EXTRA_OF_MODULE = {
    **dict.fromkeys(
        (
            "torch",
            "gpytorch",
            "linear_operator",
            "scipy",
            "grpc_reflection",
            "tqdm",
            "platformdirs",
            "prometheus_client",
            "psutil",
        ),
        "server",
    ),
    "grpc_tools": "test",
}

#: What --help says: the module docstring's reST markup (``...``) read as noise there.
DESCRIPTION = (
    "The NAS latency service. Without a command it serves with the defaults (python -m service"
    " serve --help lists them)."
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
STORE_HELP = (
    f"SQLite store (env {ENV_STORE}; default: store.sqlite in the user's data directory,"
    " nas-latency-estimator/)"
)


def _add_logging_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """``--log-level`` and ``--log-format``; without ``defaults`` an option left out sets
    nothing, so a subcommand's copy overrides the main parser's only where it is given."""
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=(os.environ.get(ENV_LOG_LEVEL) or "INFO") if defaults else argparse.SUPPRESS,
        help=f"env {ENV_LOG_LEVEL}; default INFO",
    )
    parser.add_argument(
        "--log-format",
        type=str.lower,  # as --log-level: LATENCY_LOG_FORMAT=JSON was refused (a review)
        choices=LOG_FORMATS,
        default=(os.environ.get(ENV_LOG_FORMAT) or "text") if defaults else argparse.SUPPRESS,
        help=f"json: one object per line, RPC fields included (env {ENV_LOG_FORMAT})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="latency-service", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    _add_logging_options(parser, defaults=True)
    # The logging options are also accepted after the command (``serve --log-format json``),
    # where the README's table of serve's flags puts them.
    logging_options = argparse.ArgumentParser(add_help=False)
    _add_logging_options(logging_options, defaults=False)
    commands = parser.add_subparsers(dest="command")

    def add_command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, parents=[logging_options])

    serve = add_command("serve", "run the gRPC server")
    serve.epilog = (
        f"Also from the environment only: {ENV_FIT_ITERATIONS} (optimiser steps of the source"
        f" fit) and {ENV_MAX_BATCH} (most items one request"
        f" may carry; default {DEFAULT_MAX_BATCH}). The source fit is made at start-up and"
        " cached in <store>.model.pt; a start after the sources' NB201 measurements or"
        f" {ENV_FIT_ITERATIONS} changed refits. SIGTERM or SIGINT stops gracefully; SIGHUP"
        " reloads nothing (restart instead)."
    )
    serve.add_argument("--address", help=f"host:port (env {ENV_ADDRESS}; {DEFAULT_ADDRESS})")
    serve.add_argument("--store", type=Path, help=STORE_HELP)
    serve.add_argument(
        "--dataset", type=Path, help=f"HELP dataset imported into an empty store ({ENV_DATASET})"
    )
    serve.add_argument(
        "--tls-cert",
        type=Path,
        help=f"PEM server certificate ({ENV_TLS_CERT}; read at start: restart to renew it)",
    )
    serve.add_argument("--tls-key", type=Path, help=f"PEM key of --tls-cert ({ENV_TLS_KEY})")
    serve.add_argument(
        "--token-file",
        type=Path,
        help=f"file with the bearer token writes need ({ENV_TOKEN_FILE}; or the token in"
        f" {ENV_TOKEN}); read at start: restart to rotate it",
    )
    serve.add_argument(
        "--metrics-address",
        help=f"host:port of a Prometheus /metrics endpoint, e.g. 127.0.0.1:9464"
        f" ({ENV_METRICS_ADDRESS}; default: none)",
    )

    imp = add_command("import-help", "import HELP NB201 tables as devices")
    imp.add_argument("directory", type=Path, help="e.g. ../shared/datasets/help-nasbench201")
    imp.add_argument("--store", type=Path, help=STORE_HELP)
    imp.add_argument("--devices", help="comma-separated table stems (default: all)")

    backup = add_command("backup", "copy the store, consistent while a server uses it")
    backup.add_argument("out", type=Path, metavar="OUT", help="the copy (its folder must exist)")
    backup.add_argument("--store", type=Path, help=STORE_HELP)
    backup.add_argument("--force", action="store_true", help="replace OUT if it exists")

    health = add_command("health", "exit 0 if the server reports SERVING")
    health.add_argument(
        "--address",
        default=os.environ.get(ENV_ADDRESS) or DEFAULT_ADDRESS,
        help=f"host:port of the server (env {ENV_ADDRESS}; {DEFAULT_ADDRESS})",
    )
    health.add_argument(
        "--timeout", type=_seconds, default=3.0, help="seconds to wait for the answer (default 3)"
    )
    health.add_argument(
        "--ca",
        "--ca-cert",  # the client's name for it
        dest="ca",
        type=Path,
        help=f"TLS: trusted CA ({ENV_TLS_CA}, else the client's {ENV_CA_CERT})",
    )

    add_command("gen-stubs", "regenerate service/_proto from proto/")
    return parser


def _seconds(text: str) -> float:
    """A positive, finite number of seconds: grpc takes a deadline of 0, a negative one or NaN
    as already passed, and one of inf too, and health then printed "unhealthy" of a server
    it never asked."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive, finite number of seconds")
    # grpc also reads a deadline past 2**63 ns after 1970 (a timeout above about 7.4e9 s) as
    # passed: a longer wait, meant as no limit, is cut to about 31 years.
    return min(value, MAX_DEADLINE_S)


def _serve(args: argparse.Namespace) -> int:
    from service.server import serve

    config = ServiceConfig.from_env(
        address=getattr(args, "address", None),
        store_path=getattr(args, "store", None),
        dataset=getattr(args, "dataset", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        token_file=getattr(args, "token_file", None),
        metrics_address=getattr(args, "metrics_address", None),
    )
    return serve(config)


def _import_help(args: argparse.Namespace) -> int:
    from gp.errors import DatasetError
    from service.errors import DeviceExistsError, StoreError
    from service.importer import import_help_mark, import_marker, import_tables, read_tables
    from service.store import make_store_folder

    # The store alone: the server's settings (a token, TLS, the dataset) were checked too, and
    # one meant for serve stopped an import that does not use it (a review, 2026-12-06).
    store_path = store_path_from_env(args.store)
    try:
        devices = _table_stems(args.devices)
        # Read before the store is opened: a mistyped path or a bad table creates no store.
        dataset = read_tables(args.directory, devices)
        # Marked as a first start's import is: a stopped or killed one had left no trace,
        # and the next start fitted on the tables it got to and took registrations (an
        # operator's review). Marked before the store is opened: a mark that could not be
        # written left a new, empty store behind.
        marker = import_marker(store_path)
        earlier = marker.read_text().strip() if marker.exists() else None
        own = import_help_mark(args.directory, devices)
        if earlier is None:  # an earlier pending import keeps its record till settled
            make_store_folder(store_path)  # the mark goes beside a store not made yet
            marker.write_text(f"{own}\n")
        with closing(_open_marked(store_path, marker, own_mark=earlier is None)) as store:
            try:
                # SIGTERM (a job's timeout) ended it with exit 143 and no word, a device
                # registered without its table (a review, 2026-12-06).
                with sigterm_as_interrupt():
                    # Bars on a terminal only: in a file or beside JSON logs they are
                    # lines no parser reads (a review, 2026-12-06).
                    bars = sys.stderr.isatty() and args.log_format != "json"
                    summary = import_tables(dataset, store, progress=bars)
            except KeyboardInterrupt:
                logging.getLogger("service").error("interrupted: %s", _IMPORT_LEFT_PENDING)
                return 130
            except StoreError as exc:
                # Said "cannot start", and "nothing of this request was stored" after whole
                # tables were (a disk full part way; a review, 2026-12-06).
                logging.getLogger("service").error(
                    "import stopped: %s; %s", exc, _IMPORT_LEFT_PENDING
                )
                return 2
        # The operator has now said what the store holds: no start finishes another import.
        if devices is not None and earlier not in (None, own):  # not a rerun of itself
            _warn_of_tables_left_out(earlier)
        marker.unlink(missing_ok=True)
    except (DatasetError, DeviceExistsError, StoreError) as exc:  # StoreError: at its opening
        # A corrupt store's was "cannot start", as if a server had failed (a review).
        logging.getLogger("service").error("cannot import: %s", exc)
        return 2
    except OSError as exc:  # the marker beside the store: its folder read-only, say
        logging.getLogger("service").error("cannot import: %s: %s", exc.filename, exc.strerror)
        return 2
    print(_imported(summary, store_path))
    return 0


def _table_stems(devices: str | None) -> list[str] | None:
    """The table stems of import-help's ``--devices`` (None: every table).

    Raises:
        DatasetError: ``devices`` names no table, or has an empty stem.
    """
    from gp.errors import DatasetError

    if devices is None:
        return None
    stems = [stem.strip() for stem in devices.split(",")]
    if stems == [""]:  # '--devices "$UNSET"': it imported all 27
        raise DatasetError(
            f"--devices {devices!r} names no table; leave --devices out to import all"
        )
    if not all(stems):
        # Looked up, the stem '' was "not in" the dataset: a message hard to read.
        raise DatasetError(f"--devices {devices!r} has an empty table stem (a stray comma?)")
    return stems


def _warn_of_tables_left_out(earlier: str) -> None:
    """Said where an import of some tables settles an earlier, unfinished one: its other
    tables went unimported without a word, and the next start fitted on the few (a review,
    2026-12-06)."""
    logging.getLogger("service").warning(
        "the store's earlier import, of %s, had not finished: this import settles it, and its"
        " other tables are not imported (import-help without --devices imports them)",
        earlier,
    )


def _imported(summary: ImportSummary, store_path: Path) -> str:
    """import-help's closing line: what it created, completed, skipped, added, left out."""
    # A device an interrupted import left without all its archs was counted nowhere.
    completed = f" {summary.devices_completed} completed," if summary.devices_completed else ""
    deleted = (
        f" ({quantity(summary.archs_deleted, 'arch')} left out: their measurements were deleted;"
        f" left incomplete: {', '.join(summary.devices_left_incomplete)})"
        if summary.archs_deleted
        else ""
    )
    return (
        f"{quantity(summary.devices_created, 'device')} created,{completed}"
        f" {summary.devices_skipped} already complete,"
        f" {quantity(summary.measurements_added, 'measurement')} added to {store_path}"
        f"{deleted}"
    )


def _open_marked(store_path: Path, marker: Path, own_mark: bool) -> Store:
    """The store, opened for an import that has marked it; a store that cannot be opened
    (corrupt, say) takes back the mark this import wrote (``own_mark``): nothing was
    imported, and the next start would have waited for an import that is not under way."""
    from service.errors import StoreError
    from service.store import Store

    try:
        return Store(store_path)
    except StoreError:
        if own_mark:
            marker.unlink(missing_ok=True)
        raise


#: What an import-help stopped part way leaves, and how to finish it.
_IMPORT_LEFT_PENDING = (
    "the tables imported before are kept, and import-help run again imports the rest (until"
    " then the store is marked as importing: a server started on it takes no registrations)"
)


def _backup(args: argparse.Namespace) -> int:
    from service.backup import backup_store
    from service.errors import BackupError, StoreError

    store = store_path_from_env(args.store)
    try:
        with sigterm_as_interrupt():
            summary = backup_store(store, args.out, replace=args.force)
    except (StoreError, BackupError) as exc:
        logging.getLogger("service").error("cannot back up: %s", exc)
        return 2
    print(
        f"{quantity(summary.devices, 'device')} and"
        f" {quantity(summary.measurements, 'measurement')} copied from {store} to {args.out}",
        file=said_beside(args.out),
    )
    return 0


def _health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    # grpc dials an empty or portless address and fails UNKNOWN or at port 443, which read as
    # a server that is down.
    if problem := address_problem(args.address):
        print(f"--address/{ENV_ADDRESS} {problem}", file=sys.stderr)
        return 2
    ca_path, ca_source = _trusted_ca(args.ca)
    if ca_path is None:
        channel = grpc.insecure_channel(args.address)
    else:
        try:
            ca = ca_path.read_bytes()
        except OSError as exc:
            print(f"cannot read {ca_source} {ca_path}: {exc.strerror}", file=sys.stderr)
            return 2
        # grpc took a DER or empty file and the server then read as down (UNAVAILABLE).
        if problem := certificates_problem(ca, ca_path):
            print(f"{ca_source}: {problem}", file=sys.stderr)
            return 2
        channel = grpc.secure_channel(args.address, grpc.ssl_channel_credentials(ca))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(_health_failure(args.address, exc, ca_path is not None), file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.address}: {status}")  # which server, when a script checks several
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def _health_failure(address: str, exc: grpc.RpcError, tls: bool) -> str:
    """The line for a health check that got no answer: grpc's details say why ("Connection
    refused": nothing listens there, a mistyped port; "CERTIFICATE_VERIFY_FAILED"), unless
    a hint at the TLS option explains them better. The bare status code read as a server
    that answered it was unhealthy."""
    details = " ".join((exc.details() or "").split())
    if tls:
        hint = no_tls_hint(details, f"--ca/${ENV_TLS_CA}/${ENV_CA_CERT}")
    else:
        hint = tls_hint(details, "--ca")
    reason = hint or (f" ({details})" if details else "")
    return f"{address}: unhealthy: {exc.code().name}{reason}"


def _trusted_ca(given: Path | None) -> tuple[Path | None, str]:
    """The CA file health trusts and where it was named, for the messages about it: ``--ca``,
    else ``$LATENCY_TLS_CA``, else the client's ``$LATENCY_CA_CERT`` (an empty variable is
    unset); ``(None, "")`` for plaintext. A bad file from the client's variable was reported
    as "--ca", an option the user never gave."""
    if given is not None:
        return given, "--ca"
    for variable in (ENV_TLS_CA, ENV_CA_CERT):
        if value := os.environ.get(variable):
            # Set up for the client, health dialled plaintext and a TLS server read as down.
            return Path(value), f"${variable}"
    return None, ""


def _gen_stubs(args: argparse.Namespace) -> int:
    from service.gen_stubs import main as gen_main

    return gen_main()


_COMMANDS = {
    "serve": _serve,
    "import-help": _import_help,
    "backup": _backup,
    "health": _health,
    "gen-stubs": _gen_stubs,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parses ``argv`` and runs the subcommand (``serve`` when none is given)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # argparse checks the choices of flags given, not of defaults read from the environment.
    for name, value, choices in (
        (ENV_LOG_LEVEL, args.log_level, LOG_LEVELS),
        (ENV_LOG_FORMAT, args.log_format, LOG_FORMATS),
    ):
        if value not in choices:
            # One line, as for the other settings: no usage, since no flag was misused.
            message = f"{name}={os.environ[name]!r}: choose one of {', '.join(choices)}"
            parser.exit(2, f"{parser.prog}: error: {message}\n")
    _configure_logging(args.log_level, args.log_format)
    try:
        return _COMMANDS[args.command or "serve"](args)
    except StartupError as exc:
        # A configuration or store problem the operator must fix: one clear line, no trace.
        logging.getLogger("service").error("cannot start: %s", exc)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C in import-help, or in serve before its own handlers are installed, printed a
        # traceback. The store keeps what was committed; import-help is idempotent.
        logging.getLogger("service").error("interrupted")
        return 130
    except ModuleNotFoundError as exc:
        hint = missing_module_hint(exc, EXTRA_OF_MODULE)
        if hint is None:  # not an optional dependency: a bug, or a broken install
            raise
        logging.getLogger("service").error("cannot run %s: %s", args.command or "serve", hint)
        return 2


def _configure_logging(level: str, style: str) -> None:
    handler = logging.StreamHandler()
    if style == "json":
        from service.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    # Python's warnings (a library's deprecations, shown under -W default) in the log's own
    # format: written raw to stderr they broke "one JSON object per line".
    logging.captureWarnings(True)
