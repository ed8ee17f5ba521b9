"""The ``client`` command line: predictions, suggestions, measurements, devices and reports.

Connection options come before the command (``client --target host:port predict ...``) or
from the environment: ``LATENCY_TARGET``, ``LATENCY_TOKEN_FILE`` / ``LATENCY_TOKEN``,
``LATENCY_CA_CERT`` and ``LATENCY_TLS``. Other modules add commands to :data:`app` and open a
connection with :func:`connect`. numpy, grpc and matplotlib are imported inside the commands,
so ``--help`` stays fast.

Every failure is one line on stderr (``error: ...``) and a non-zero exit: 1 for errors of the
service or of the input, 2 for misused options.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import shlex
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeGuard

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from client.grammar import decimal, is_decimal
from client.settings import (
    COUNT_MAX,
    DEFAULT_RETRIES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_S,
    ENV_TARGET,
    ENV_TIMEOUT,
    ENV_TLS,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    SEED_MAX,
)
from service import DISTRIBUTION, installed_version
from service.addresses import dialled_target_problem
from service.grpc_callers import ENV_CA_CERT
from service.names import TEXT_LAYOUT, is_unprintable
from service.outputs import output_path_problem, said_beside
from service.wording import (
    MEASURED_BEFORE,
    missing_module_hint,
    no_tls_hint,
    quantity,
    tls_hint,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from client.api import (
        AddResult,
        DeleteResult,
        DeviceInfo,
        LatencyClient,
        Predictions,
        Suggestion,
        SurprisingMeasurement,
    )
    from client.errors import LatencyServiceError, UnavailableError


EXIT_ERROR = 1
EXIT_USAGE = 2
#: Figure formats ``report`` writes (matplotlib picks the format from the suffix).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
#: How input files are read: UTF-8, with or without a byte-order mark.
TEXT_ENCODING = "utf-8-sig"
#: Errors only a write raises: a full disk, a quota, a file grown past its limit.
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def surprising_hint(
    device: str,
    measurement: SurprisingMeasurement,
    uploaded_ms: float | None = None,
    connection: Sequence[str] = (),
) -> str:
    """What to do about a latency the device's other measurements do not explain, with the
    command that deletes it ready to paste (it said ``--device DEVICE ARCH``): that value
    alone where the caller knows it (``uploaded_ms``; the measurement's own latency is the
    median of the arch's), else every measurement of the arch. ``connection``: the options
    that reach the server (:func:`connection_words`); pasted without them, the command went to
    the default target (a NAS user's review, 2026-12-07)."""
    words = ["client", *connection, "delete", "--device", device, measurement.arch]
    if uploaded_ms is not None:  # a source's table value beside the slip stays
        words += ["--latency-ms", repr(uploaded_ms)]
    command = shlex.join(words)
    return (
        f"stored and used as measured; if it is a mistake, delete it ({command}) and measure it"
        " again, or measure that arch twice more (an arch counts at the median of its"
        " measurements)"
    )


# ---- errors ----------------------------------------------------------------------------------
#: A write given up on, by RPC ("": an upload): its name, the command that repeats it under
#: its request id, and what that repeat does not do.
_REPEATED_WRITES = {
    "": ("upload", "add", "storing it twice"),
    "DeleteMeasurements": ("deletion", "delete", "deleting anything more"),
}


def _repeat_hint(method: str, request_id: str) -> str:
    """How to repeat a write (``method``: "" for an upload) that may have been carried out."""
    write, command, effect = _REPEATED_WRITES.get(method, _REPEATED_WRITES[""])
    return (
        f"the {write} may have been stored all the same: 'client measurements' lists what the"
        f" device holds, and 'client {command}' with --request-id {request_id} repeats it"
        f" without {effect}"
    )


@contextmanager
def _interrupted_write_named(method: str, request_id: str) -> Iterator[None]:
    """Ctrl-C during a write says how to repeat it: sent, it may have been carried out, and a
    rerun of 'client add' stored a file of 10,000 rows twice (a review)."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(f"warning: interrupted: {_repeat_hint(method, request_id)}", err=True)
        raise


#: The extra (pyproject.toml) that installs each module a command may lack: the client
#: installs alone, without what ``measure`` times networks with or ``report`` draws with.
EXTRA_OF_MODULE = {"torch": "measure", "psutil": "measure", "matplotlib": "report"}


def require_extra(extra: str) -> None:
    """Imports the modules of ``extra``: one not installed raises ModuleNotFoundError, which
    :func:`_user_error` words, before any call, wait or timing, not after them (with psutil
    installed, ``measure`` found torch missing after its first progress bar; a client-only
    review). Imported, not looked up: a broken install fails here too, in its traceback."""
    import importlib

    for module, of in EXTRA_OF_MODULE.items():
        if of == extra:
            importlib.import_module(module)


def _user_error(exc: BaseException, plaintext: bool) -> str | None:
    """The one-line message of an error the user can fix, or None for a bug (``plaintext``:
    the connection was not TLS)."""
    if isinstance(exc, ModuleNotFoundError):
        return missing_module_hint(exc, EXTRA_OF_MODULE)
    from client.errors import ClientInputError, LatencyServiceError

    if isinstance(exc, LatencyServiceError):
        return _service_error_text(exc, plaintext)
    if isinstance(exc, ClientInputError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return _output_error(exc)


def _service_error_text(exc: LatencyServiceError, plaintext: bool) -> str:
    """The service's error in the CLI's words: its options where the library names its own
    settings, and what to do next."""
    from client.errors import (
        LIBRARY_SETTINGS,
        LIBRARY_TOKEN_HINT,
        DeadlineExceededError,
        NotFoundError,
        UnauthenticatedError,
        UnavailableError,
        no_answer_within,
    )

    if isinstance(exc, DeadlineExceededError):  # the library's words name its settings
        if exc.waited is None:
            exc.message += " (no answer within --timeout)"
        else:
            said = no_answer_within(*exc.waited, LIBRARY_SETTINGS)
            options = no_answer_within(*exc.waited, ("--timeout", "--retries"))
            exc.message = exc.message.replace(said, options)
    if exc.maybe_carried_out:
        # An upload given up on may have been stored: adding the file again stored it twice.
        # Whatever ended its last attempt (a busy server, after one that timed out): not one
        # refused before it was sent (a connection refused), or by the service.
        exc.message += f"; {_repeat_hint(exc.method, exc.request_id)}"
    if isinstance(exc, UnavailableError):
        return _unavailable_text(exc, plaintext)
    if isinstance(exc, NotFoundError) and exc.message.startswith("unknown device"):
        exc.message += "; 'client devices' lists the registered ones"  # a typo, most often
    if exc.code == "UNIMPLEMENTED" and exc.method:
        # grpc's own "Method not found!": a server older than the command (DeleteMeasurements).
        exc.message = (
            f"the service at {exc.target} has no {exc.method} ({exc.message}): a latency"
            " service older than this client (upgrade it to use this command), or another"
            " gRPC service at that address"
        )
    if isinstance(exc, UnauthenticatedError):
        # A CLI user needs the option that sends it, not the library's argument.
        options = f"give the token with --token-file, ${ENV_TOKEN_FILE} or ${ENV_TOKEN}"
        exc.message = exc.message.replace(LIBRARY_TOKEN_HINT, options)
    return str(exc)


def _unavailable_text(exc: UnavailableError, plaintext: bool) -> str:
    """Unreachable, or reached but still loading its model: the message says which."""
    service = f"the latency service at {exc.target}"
    if exc.message.startswith(service):  # wait_until_ready's own sentence names it
        return str(exc)
    if plaintext:
        exc.message += tls_hint(exc.message, "--ca-cert or --tls")
    else:  # set in the environment as often as given: name both
        exc.message += no_tls_hint(exc.message, f"--ca-cert/${ENV_CA_CERT} and --tls/${ENV_TLS}")
    return f"{service} is unavailable: {exc}"


def _is_output_failure(exc: BaseException) -> TypeGuard[OSError]:
    """Whether ``exc`` is a failed write to stdout (a full disk), not to a named file."""
    # The files the commands write name themselves (service.outputs.write_atomically).
    return isinstance(exc, OSError) and exc.filename is None and exc.errno in WRITE_FAILURES


def _output_error(exc: BaseException) -> str | None:
    """The one-line message of a write to stdout that failed (redirected to a file on a full
    disk), whose unwritten rest is dropped: Python's exit wrote it again, and failed with a
    second message and exit code 120. None for other errors."""
    if isinstance(exc, _UnprintedWriteError):
        return str(exc)
    if not _is_output_failure(exc):
        return None
    _drop_stdout()
    return f"cannot write the output: {exc.strerror}"


def _drop_stdout() -> None:
    """Sends what is left of stdout to nowhere: Python's exit flushes it, and failed again."""
    with suppress(OSError, ValueError):  # a stdout without a file descriptor (tests')
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _UnprintedWriteError(Exception):
    """A stored write whose answer could not be printed (:func:`_said_done_if_unprinted`)."""


def _usage_exit(exc: TyperException, ctx: typer.Context) -> typer.Exit:
    """Prints a click usage or file error as one line (no rich panel); the exit to raise."""
    failed = getattr(exc, "ctx", None) or ctx
    message = exc.format_message()
    if misplaced := _misplaced_option(exc, failed):
        message, failed = misplaced, failed.find_root()  # whose help lists the option
    hint = f" (see '{failed.command_path} --help')" if exc.exit_code == EXIT_USAGE else ""
    typer.echo(f"error: {message}{hint}", err=True)
    return typer.Exit(exc.exit_code)


def _misplaced_option(exc: TyperException, failed: typer.Context) -> str | None:
    """What to say of an option of ``client`` itself given after a command, or None for other
    errors: click offered the command's nearest option ("No such option: --target (Possible
    options: --retime)")."""
    option = getattr(exc, "option_name", None)
    root = failed.find_root()
    if option is None or failed is root:
        return None
    if option not in {name for param in root.command.params for name in param.opts}:
        return None
    return (
        f"{option} is an option of '{root.info_name}' itself, not of '{failed.info_name}': give"
        f" it before the command ('{root.info_name} {option} ... {failed.info_name} ...')"
    )


class _OneLineErrors(TyperGroup):
    """Turns service, input and usage errors of any command into ``error: ...`` on stderr."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Parses ``client``'s own options (before the command), e.g. a bad ``--timeout``."""
        given = list(args)  # click consumes ``args`` while parsing
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except TyperException as exc:
            if not given:
                raise  # plain ``client``: click prints the help
            raise _usage_exit(exc, typer.Context(self, info_name=info_name)) from None

    # typer hands its own Context subclass here; the base class names click's, which typer
    # vendors under a private module name that differs between typer releases.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Runs the command; what the user can fix ends in one line and exit code 1 or 2."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # output buffered for a full disk fails here, not at the exit
            return result
        except TyperException as exc:
            raise _usage_exit(exc, ctx) from None
        except Exception as exc:
            options = ctx.find_object(ConnectionOptions)
            plaintext = options is None or (options.ca_cert is None and not options.tls)
            message = _user_error(exc, plaintext)
            if message is None:
                raise
            # What the command knew to add (measure: where a failed upload's timings are).
            notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
            typer.echo(f"error: {message}{notes}", err=True)
            raise typer.Exit(EXIT_ERROR) from None


app = typer.Typer(
    name="client",
    cls=_OneLineErrors,
    help=(
        "Query the NAS latency service: predict latencies, pick the architectures worth"
        " measuring, upload measurements, manage devices, draw accuracy reports.\n\n"
        "Examples:\n\n"
        "  client devices\n\n"
        "  client --target gpu-box:50051 suggest-samples --device jetson --count 10\n\n"
        "  client predict --device pi4 --file archs.txt --csv > predicted.csv"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def request_id_given(value: str | None) -> str | None:
    """Option callback: an empty id is the wire's "no id", under which a retry could carry the
    write out twice; the library refuses it in Python's terms ("give None")."""
    if value == "":
        raise typer.BadParameter("empty: omit --request-id for a fresh one")
    return value


def finite(value: float) -> float:
    """Option callback: NaN and infinity are no setting, yet click's range check passes NaN
    (it compares false with any bound) and any lower bound passes infinity."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def decimal_number(text: str | float) -> float:
    """An option's number as a measurements file's latency is read (``decimal``): click's
    float() took "4_1.2" as 41.2 (a review, 2026-12-06). A default is a number already."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return decimal(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is no number") from None


def decimal_at_least(minimum: float) -> Callable[[str | float], float]:
    """Option parser: :func:`decimal_number`, finite and ``minimum`` or more (click's own
    range, ``min=``, is not checked for an option with a parser of its own). Errors quote the
    number as typed: Python's repr showed 0.00001 as 1e-05 (a review, 2026-12-07)."""

    def parsed(text: str | float) -> float:
        value = decimal_number(text)
        shown = text.strip() if isinstance(text, str) else repr(value)
        if not math.isfinite(value):
            raise typer.BadParameter(f"{shown} is not a finite number")
        if value < minimum:
            raise typer.BadParameter(f"{shown} is not in the range x>={minimum:g}.")
        return value

    return parsed


def finite_if_given(value: float | None) -> float | None:
    """:func:`finite` for an option without a default (None: not given)."""
    return None if value is None else finite(value)


# ---- connection ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to reach the service; the token is read only when connecting.

    Attributes:
        target: ``host:port``.
        token_file: file holding the bearer token; None falls back to ``$LATENCY_TOKEN_FILE``,
            then ``$LATENCY_TOKEN``.
        ca_cert: PEM CA certificate; a TLS channel is used when given.
        timeout_s: deadline of each RPC.
        retries: extra attempts of a call answered UNAVAILABLE or turned away by a busy server
            (grpc's "Concurrent RPC limit exceeded!", or the service's "server busy: ...").
        tls: connect by TLS trusting the system's CAs (without ``ca_cert``).
    """

    target: str = DEFAULT_TARGET
    token_file: Path | None = None
    ca_cert: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    tls: bool = False

    def command_words(self) -> list[str]:
        """The ``client`` options that reach this server again, for a command a hint prints
        (not the timeout and retries: the defaults serve a single delete). The target even
        where it is the default: one given over ``$LATENCY_TARGET`` left out, the command
        pasted in that shell went to the variable's server (a review)."""
        words = ["--target", self.target]
        if self.token_file is not None:
            words += ["--token-file", str(self.token_file)]
        if self.ca_cert is not None:
            words += ["--ca-cert", str(self.ca_cert)]
        elif self.tls:
            words.append("--tls")
        return words

    def client(self) -> LatencyClient:
        """A connected :class:`~client.api.LatencyClient` (use it as a context manager)."""
        from client.api import LatencyClient, read_token

        return LatencyClient(
            self.target,
            token=read_token(self.token_file),
            ca_cert=self.ca_cert,
            tls=self.tls,
            timeout_s=self.timeout_s,
            retries=self.retries,
        )


def connect(ctx: typer.Context) -> LatencyClient:
    """The client for a command: the options given to ``client`` itself (its ``main`` callback
    reads the environment too), else a client configured from the environment alone.

    Use it in any command added to :data:`app`::

        @app.command()
        def my_command(ctx: typer.Context) -> None:
            with connect(ctx) as latency:
                ...
    """
    options = ctx.find_object(ConnectionOptions)
    if options is not None:
        return options.client()
    from client.api import LatencyClient

    return LatencyClient.from_env()


def connection_words(ctx: typer.Context) -> list[str]:
    """The ``client`` options that reach the server ``connect(ctx)`` does, for a command a
    hint prints ready to paste; none where the environment alone configured it."""
    options = ctx.find_object(ConnectionOptions)
    return options.command_words() if options is not None else []


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"client ({DISTRIBUTION}) {installed_version()}")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            envvar=ENV_TARGET,
            help="host:port of the latency service (or a grpc URI, dns:///host:port).",
        ),
    ] = DEFAULT_TARGET,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar=ENV_TOKEN_FILE,
            help="File holding the bearer token for writes ($LATENCY_TOKEN holds it directly).",
        ),
    ] = None,
    ca_cert: Annotated[
        Path | None,
        typer.Option("--ca-cert", envvar=ENV_CA_CERT, help="PEM CA certificate: connect by TLS."),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            envvar=ENV_TLS,
            help="Connect by TLS, trusting the system's CAs (--ca-cert implies TLS).",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            envvar=ENV_TIMEOUT,
            parser=decimal_at_least(0.001),  # float() took "1_0" as 10 (a review, 2026-12-06)
            help="Deadline of each attempt of a call (s, at least 0.001).",
        ),
    ] = DEFAULT_TIMEOUT_S,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            help="Retries of a call answered UNAVAILABLE or by a busy server (of an upload, a"
            " deletion or a registration, also of one unanswered within --timeout: a repeat of"
            " one carried out does nothing more).",
        ),
    ] = DEFAULT_RETRIES,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # The server's own check (service/addresses.py): grpc dialled "host:" at port 443, a
    # port beyond 65535 modulo 65536, and a host alone at 443, not the service's 50051.
    if problem := dialled_target_problem(target):
        example = f"{target}:50051" if target.strip() and ":" not in target else DEFAULT_TARGET
        raise typer.BadParameter(
            f"{problem} (e.g. {example})", param_hint=f"--target / ${ENV_TARGET}"
        )
    ctx.obj = ConnectionOptions(target, token_file, ca_cert, timeout, retries, tls)


# ---- input and output ------------------------------------------------------------------------
class Space(StrEnum):
    nasbench201 = "nasbench201"
    fbnet = "fbnet"
    vector = "vector"


class Strategy(StrEnum):
    active = "active"
    greedy = "greedy"
    random = "random"


def output_console(stderr: bool = False) -> Console:
    """The console commands print their results on (stdout; ``stderr``: text beside a JSON
    result on stdout). It prints text as given: device names and descriptions are users' text,
    which rich would read as markup ("[b]", ":smile:"; "[/x]" raised MarkupError); colour is a
    ``style``."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is for files and other programs: wide rows rather than wrapped arch strings.
    width = None if stream.isatty() else 250
    return Console(width=width, markup=False, emoji=False, stderr=stderr)


def add_columns(table: Table, names: Sequence[str], left: Container[str]) -> None:
    """Adds columns ``names`` to ``table``, right-justified but those in ``left``. Long values
    fold onto more lines: rich's default cropped them to "...", an arch or a device's name
    losing the characters that tell it apart (a review, 2026-12-06)."""
    for name in names:
        table.add_column(name, justify="left" if name in left else "right", overflow="fold")


def milliseconds(value: float) -> str:
    """A latency for a table: 3 decimals, or 4 significant digits below 1 ms (a device timed
    in microseconds printed 0.000 throughout)."""
    return f"{value:.3f}" if abs(value) >= 0.9995 or not math.isfinite(value) else f"{value:#.4g}"


def plain_text(text: str) -> str:
    """``text`` with each control or format character but line breaks and tabs written as its
    escape (``\\x1b``, ``\\u202e``). Stored names and descriptions are other users' text: the
    service refuses these characters in them, but ones stored before it did would still clear,
    move or recolour the terminal of whoever prints them, or reverse the rest of a table row."""
    return "".join(_escaped(c) if is_unprintable(c, TEXT_LAYOUT) else c for c in text)


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")


def _stdin_text() -> Iterator[Any]:
    """stdin decoded like an input file, and left open for whoever reads it next."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # replaced by a text-only stream (embedding, tests): take it as it is
        yield sys.stdin
        return
    handle = io.TextIOWrapper(buffer, encoding=TEXT_ENCODING, newline="")
    try:
        yield handle
    finally:
        handle.detach()


def _input_name(path: Path) -> str:
    """How messages name an input file (``-``: stdin)."""
    return "stdin" if str(path) == "-" else str(path)


@contextmanager
def _open_text(path: Path) -> Iterator[Any]:
    """``path`` as UTF-8 text, or stdin for ``-``. Content that is not text, or a CSV field
    beyond the csv module's limit (a long feature vector), is a one-line error naming the
    file rather than a traceback from deep in the reader. A leading byte-order mark (Excel's
    "CSV UTF-8") is dropped: it would otherwise be part of the first column's name."""
    from client.errors import ClientInputError

    try:
        if str(path) == "-":
            yield from _stdin_text()
            return
        with path.open(newline="", encoding=TEXT_ENCODING) as handle:
            yield handle
    except UnicodeDecodeError as exc:
        raise ClientInputError(f"{_input_name(path)}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ClientInputError(f"{_input_name(path)}: {exc}") from None


def check_output_path(path: Path, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """A usage error now, before any work, where ``path`` could not be written afterwards
    (a folder itself, its folder missing or read-only, or a suffix outside ``suffixes``)."""
    if not path.is_dir() and suffixes and path.suffix.lower() not in suffixes:
        raise typer.BadParameter(
            f"{path}: the file name must end in {', '.join(suffixes)}", param_hint=option
        )
    if problem := output_path_problem(path):
        raise typer.BadParameter(problem, param_hint=option)


def _header_names(text: str) -> set[str]:
    """The fields of the first line, were it a CSV header: no arch is named ``arch``, so one
    that names ``arch`` is a header."""
    # Read as CSV: R's write.csv quotes its header ("arch","latency_ms"), which split on commas
    # was no header, and delete --file took its exact rows for whole archs (a review,
    # 2026-12-06).
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    return {field.strip() for field in header}


def _csv_reader(handle: Any) -> csv.DictReader[str]:
    """Rows by column name, the names stripped as the values are: "arch, latency_ms" (typed
    with a space) has a latency_ms column."""
    reader = csv.DictReader(handle)
    if reader.fieldnames is not None:
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
    return reader


def read_arch_lines(path: Path) -> list[tuple[int, str]]:
    """One arch per line (blank lines and ``#`` comments skipped), or a CSV's ``arch`` column
    (a .csv file, or any input headed by an ``arch`` column: ``client measurements`` piped to
    ``--file -``), each with its line number in the file (from 1) for error messages."""
    with _open_text(path) as handle:
        return _arch_lines_in(path, handle.read())


def _arch_lines_in(path: Path, text: str) -> list[tuple[int, str]]:
    """:func:`read_arch_lines` of ``path``'s ``text``, read by the caller."""
    if path.suffix.lower() == ".csv" or "arch" in _header_names(text):
        reader = _csv_reader(io.StringIO(text, newline=""))
        if reader.fieldnames is not None and "arch" not in reader.fieldnames:
            from client.errors import ClientInputError

            raise ClientInputError(f"{_input_name(path)}: no 'arch' column")
        listed = []
        for row in reader:
            _check_no_extra_fields(_input_name(path), reader, row)
            if arch := (row.get("arch") or "").strip():
                listed.append((reader.line_num, arch))
        return listed
    lines = ((number, line.strip()) for number, line in enumerate(io.StringIO(text), 1))
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


def read_deletions(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str, float]]]:
    """What ``client delete --file`` names: exact measurements, ``(line, arch, latency_ms)``
    rows of a CSV headed by both columns (``client measurements``' listing, filtered), or
    else archs (:func:`read_arch_lines`); the other list is empty. The file is read once:
    stdin cannot be read again."""
    with _open_text(path) as handle:
        text = handle.read()
        header = _header_names(text)
        if {"arch", "latency_ms"} <= header:
            return [], _measurements_in(path, _csv_reader(io.StringIO(text, newline="")))
        if "arch" in header:
            _refuse_a_misnamed_latency_column(path, text)
        return _arch_lines_in(path, text), []


def _refuse_a_misnamed_latency_column(path: Path, text: str) -> None:
    """Raises ClientInputError where an ``arch`` column stands beside a latency column not
    named ``latency_ms``: one whose name says latency, or whose values are all numbers.
    "arch,Latency_ms" (or "arch,time_ms") deleted every measurement of each arch, a source
    table's own value too, where the one wrong value was meant (reviews, 2026-12-06)."""
    from client.errors import ClientInputError

    reader = _csv_reader(io.StringIO(text, newline=""))
    columns: dict[str, list[str]] = {name: [] for name in reader.fieldnames or () if name}
    for row in reader:
        for name, values in columns.items():
            if value := (row.get(name) or "").strip():
                values.append(value)
    for name, values in sorted(columns.items()):
        numbers = bool(values) and all(is_decimal(value) for value in values)
        if name != "arch" and ("latency" in name.lower() or numbers):
            raise ClientInputError(
                f"{_input_name(path)}: a column {name!r} but none named 'latency_ms': name it"
                " latency_ms to delete only those values, or drop it to delete every"
                " measurement of each arch"
            )


def require_archs(path: Path, option: str) -> tuple[list[str], list[str]]:
    """The archs :func:`read_arch_lines` finds in ``path`` and how errors name their lines
    (:func:`file_lines`); a file that lists no arch is an error naming ``option``."""
    listed = read_arch_lines(path)
    if not listed:
        from client.errors import ClientInputError

        raise ClientInputError(f"{option} {_input_name(path)}: no archs in it")
    return [arch for _, arch in listed], file_lines(path, [number for number, _ in listed])


def write_measurements(handle: IO[str], pairs: Iterable[tuple[str, float]]) -> None:
    """``(arch, latency_ms)`` pairs as the CSV :func:`read_measurements` (``client add
    --file``) reads: an FBNet arch quoted, each latency the float itself (repr)."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["arch", "latency_ms"])
    writer.writerows([arch, repr(ms)] for arch, ms in pairs)


def read_measurements(path: Path) -> list[tuple[int, str, float]]:
    """``(line, arch, latency_ms)`` rows of a CSV with a header naming those columns (line: the
    row's line number in the file, from 1, for error messages)."""
    with _open_text(path) as handle:
        return _measurements_in(path, _csv_reader(handle))


def _check_no_extra_fields(name: str, reader: csv.DictReader[str], row: dict[Any, Any]) -> None:
    """Raises ClientInputError if ``row``, just read, has fields beyond the header's."""
    # DictReader keeps them under its restkey None, and they were dropped: "3,5" read as 3 ms,
    # an unquoted vector "0.5,1.5,4.2" as arch 0.5 (measured at 1.5 ms).
    if extra := [field for field in row.get(None, ()) if field.strip()]:
        from client.errors import ClientInputError

        columns = len(reader.fieldnames or ())
        raise ClientInputError(
            f"{name} line {reader.line_num}: {columns + len(extra)} fields where the header has"
            f" {columns}; quote an arch that holds commas, and write decimals with a point"
        )


def _measurements_in(path: Path, reader: csv.DictReader[str]) -> list[tuple[int, str, float]]:
    """:func:`read_measurements` of ``reader``, a CSV of ``path`` (read within
    :func:`_open_text`, which names the file in a reader's error)."""
    from client.errors import ClientInputError

    name = _input_name(path)
    missing = {"arch", "latency_ms"} - set(reader.fieldnames or ())
    if missing:
        raise ClientInputError(
            f"{name}: needs a header with columns arch,latency_ms (missing {sorted(missing)})"
        )
    pairs = []
    for row in reader:
        arch, value = (row["arch"] or "").strip(), (row["latency_ms"] or "").strip()
        if not arch and not value:
            continue
        line = reader.line_num
        _check_no_extra_fields(name, reader, row)
        # float() reads more than numbers: "4_1.2" as 41.2, Arabic-Indic digits (a review).
        try:
            pairs.append((line, arch, decimal(value)))
        except ValueError:
            raise ClientInputError(f"{name} line {line}: latency {value!r} is no number") from None
    if not pairs:
        raise ClientInputError(f"{name}: no measurements")
    return pairs


def require_positive_latencies(path: Path, rows: list[tuple[int, str, float]]) -> None:
    """Refuses a measured latency that is not a positive, finite number of ms, naming its line:
    scores divide by it and the figure's axes are logarithmic (zero made MAPE infinite, NaN
    a matplotlib traceback, a negative value a silently wrong score)."""
    from client.errors import ClientInputError

    for line, _, value in rows:
        if not (math.isfinite(value) and value > 0):
            raise ClientInputError(
                f"{_input_name(path)} line {line}: latency {value!r} ms is not a positive number"
            )


@contextmanager
def items_named_by_place(places: list[str]) -> Iterator[None]:
    """Where the service, or the client before sending, rejects item N of a request ("arch 3:
    ..."), names the place it came from instead: ``places[N]``, e.g. ``archs.txt line 5``."""
    from client.errors import ClientInputError, InvalidArgumentError, rename_item, renamed

    def place(index: int) -> str | None:
        return places[index] if index < len(places) else None

    try:
        yield
    except InvalidArgumentError as error:
        rename_item(error, place)
        raise
    except ClientInputError as error:  # e.g. a feature vector that is not numbers
        raise ClientInputError(renamed(str(error), place)) from None


@contextmanager
def _file_over_the_limit(file: Path | None) -> Iterator[None]:
    """Where the server refuses a write of ``file``'s rows as more than it takes in one
    request, says how to split the file: its "split the request" meant nothing to a user of
    the CLI, which sends a file in one request (a review, 2026-12-06)."""
    from client.api import request_limit
    from client.errors import ResourceExhaustedError

    try:
        yield
    except ResourceExhaustedError as error:
        limit = request_limit(error, "measurements") or request_limit(error, "archs")
        if file is not None and limit is not None and error.message.endswith("the request"):
            error.message += (
                f": {_input_name(file)} into files of at most {quantity(limit, 'row')} (each"
                " applied whole or not at all)"
            )
        raise


def file_lines(path: Path, numbers: list[int]) -> list[str]:
    """How errors name those lines of ``path`` (``-``: stdin)."""
    return [f"{_input_name(path)} line {number}" for number in numbers]


def _json_safe(value: Any) -> Any:
    """Non-finite floats as null: JSON has no Infinity, and strict parsers (jq) reject it. The
    service sends an unbounded interval for a device it knows nothing about."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def print_json(payload: object) -> None:
    typer.echo(json.dumps(_json_safe(payload), indent=2, allow_nan=False))


def _space(space: Space | None) -> str | None:
    return space.value if space is not None else None


# ---- commands --------------------------------------------------------------------------------
DeviceOption = Annotated[
    str, typer.Option("--device", "-d", help="Device name or alias, e.g. pi4.", show_default=False)
]
SpaceOption = Annotated[
    Space | None,
    typer.Option("--space", help="Search space of the archs (default: inferred from each arch)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
#: What the scores' JSON holds in which unit: the keys mix shares and percents.
SCORE_UNITS = "acc10 and coverage90 as shares (0-1), mape and bias in percent"
ScoresJsonOption = Annotated[
    bool, typer.Option("--json", help=f"Print JSON for scripts: {SCORE_UNITS}.")
]
ArchsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Architectures: NB201 cell strings, FBNet block lists, vectors."),
]
ArchFileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", help="One arch per line (or a CSV with an arch column); - is stdin."
    ),
]


def _request_id_option(write: str, repeated: str) -> Any:
    """The ``--request-id`` option of a write (``write``: "upload"), which a retry repeats."""
    return typer.Option(
        "--request-id",
        callback=request_id_given,
        help=f"The {write}'s id (default: a fresh one). Give the id a failed {write} names to"
        f" repeat it: {repeated}, however many times it is sent.",
    )


UploadIdOption = Annotated[str | None, _request_id_option("upload", "stored once")]
DeletionIdOption = Annotated[str | None, _request_id_option("deletion", "it deletes nothing more")]


@app.command("suggest-samples")
def suggest_samples(
    ctx: typer.Context,
    device: DeviceOption,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=COUNT_MAX, help="How many to pick.")
    ] = 10,
    space: Annotated[
        Space | None,
        typer.Option(
            "--space", help="Search space of the pool (default: the candidates', else NB201)."
        ),
    ] = None,
    strategy: Annotated[
        Strategy | None,
        typer.Option(
            "--strategy",
            help="active: half at random, half by expected gain given those (default); greedy:"
            " all by gain; random: all drawn from the pool.",
        ),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates",
            help="Pool to pick from, one arch per line; measured ones are left out (default: all"
            " unmeasured NB201 archs).",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            min=0,
            max=SEED_MAX,
            help="Seed of the random picks (random strategy, active draws) and of the sample of"
            " a pool over 512 archs that active and greedy picks are scored on.",
        ),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """The architectures to measure next, with their predicted latency and uncertainty.

    Listed in the order they were picked, not ranked: an active batch's
    draws come first, and its other picks were chosen given them. Measure
    the batch whole.

    Examples:

      client suggest-samples --device jetson --count 10

      client suggest-samples --device jetson --json | jq -r '.suggestions[].arch' > to_measure.txt

      client suggest-samples --device phone --candidates fbnet_pool.txt -n 5
    """
    if candidates is None and space not in (None, Space.nasbench201):
        # The service's "candidates are required" named no option (a user review).
        raise typer.BadParameter(
            f"{space} has no default pool: give one with --candidates FILE", param_hint="--space"
        )
    pool: list[str] | None = None
    places: list[str] = []
    if candidates is not None:
        pool, places = require_archs(candidates, "--candidates")
    # "Up to --count": a small pool is not an error, but it is said below.
    allowed = min(count, len(set(pool))) if pool else count
    with connect(ctx) as latency, items_named_by_place(places):
        picks = latency.suggest(
            device,
            count=allowed,
            candidates=pool,
            strategy=strategy.value if strategy else None,
            search_space=_space(space),
            seed=seed,
        )
    if len(picks) < count:
        typer.echo(f"note: {_fewer_picks(len(picks), count, allowed, device)}", err=True)
    rows = [_suggestion_row(pick) for pick in picks]
    if as_json:
        print_json(
            {
                "device": device,
                "model_version": picks.model_version,
                "suggestions": rows,
                "warnings": list(picks.warnings),
            }
        )
    else:
        _print_suggestion_table(device, picks.model_version, rows)


def _fewer_picks(picked: int, count: int, allowed: int, device: str) -> str:
    """Why ``picked`` is below ``count``: a pool of ``allowed`` distinct lines, or what the
    service leaves out (the device's measured and reference archs, one arch spelt twice). A
    small pool was said to be measured (a review, 2026-12-06)."""
    only = f"only {picked} of the {quantity(count, 'suggestion')} asked for"
    if picked == allowed:
        return f"{only}: the pool holds {quantity(allowed, 'distinct arch')}"
    return (
        f"{only}: no other arch of the pool is left that {device} has not measured (or has as a"
        " reference arch; an arch spelt two ways counts once)"
    )


def _suggestion_row(pick: Suggestion) -> dict[str, Any]:
    return {
        "arch": pick.arch,
        "search_space": pick.search_space,
        "mean_ms": pick.mean_ms,
        "variance_ms2": pick.variance_ms2,
        "std_ms": pick.std_ms,
    }


def _print_suggestion_table(device: str, model_version: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"Measure next on {device} (model {model_version})")
    add_columns(table, ("#", "arch", "mean ms", "sd ms", "sd / mean"), left={"arch"})
    for rank, row in enumerate(rows, 1):
        relative = row["std_ms"] / row["mean_ms"] if row["mean_ms"] else float("nan")
        table.add_row(
            str(rank),
            row["arch"],
            milliseconds(row["mean_ms"]),
            milliseconds(row["std_ms"]),
            f"{relative:.1%}",
        )
    output_console().print(table)


@app.command()
def predict(
    ctx: typer.Context,
    device: DeviceOption,
    archs: ArchsArgument = None,
    file: ArchFileOption = None,
    space: SpaceOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Predicted latency (mean, sd, 90% interval) of architectures on a device.

    Examples:

      client predict -d pi4 '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'

      client predict --device pi4 --file archs.txt --csv > predicted.csv

      client predict --device phone --space fbnet k3_e1,skip,...,k5_e6 --json
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--csv")
    names, places = given_archs(archs, file)
    with connect(ctx) as latency, items_named_by_place(places):
        result = latency.predict(device, names, search_space=_space(space))
    if as_csv:
        _print_csv(names, result)
    elif as_json:
        rows = [
            dict(arch=name, **values) for name, values in zip(names, _rows(result), strict=True)
        ]
        print_json(
            {
                "device": device,
                "model_version": result.model_version,
                "predictions": rows,
                "warnings": list(result.warnings),
            }
        )
    else:
        _print_prediction_table(device, names, result)


def given_archs(archs: list[str] | None, file: Path | None) -> tuple[list[str], list[str]]:
    """The archs of a command's ARCH arguments and ``--file``, and how errors name each one's
    place (:func:`items_named_by_place`); none at all is an error."""
    return _given_archs(archs, file, read_arch_lines(file) if file is not None else [])


def _given_archs(
    archs: list[str] | None, file: Path | None, listed: list[tuple[int, str]]
) -> tuple[list[str], list[str]]:
    """:func:`given_archs`, the file's archs already ``listed`` (line, arch)."""
    for arch in archs or []:
        _refuse_a_file_name(arch)
    names = list(archs or []) + [arch for _, arch in listed]
    if not names and file is not None:  # was "give ARCH arguments or --file", given --file
        from client.errors import ClientInputError

        raise ClientInputError(f"--file {_input_name(file)}: no archs in it")
    if not names:
        raise typer.BadParameter("no architectures: give ARCH arguments or --file")
    places = [f"ARCH argument {k}" for k in range(1, len(archs or []) + 1)]
    places += file_lines(file, [number for number, _ in listed]) if file is not None else []
    return names, places


def _refuse_a_file_name(arch: str) -> None:
    """An ARCH argument that names a file was meant as --file: the service would call the
    file's name a malformed arch."""
    if _names_a_file(arch):
        raise typer.BadParameter(
            f"{arch!r} is a file: give it with --file {arch}", param_hint="ARCH"
        )


def _names_a_file(arch: str) -> bool:
    """Whether an ARCH argument is the name of a file rather than an arch."""
    try:
        return Path(arch).is_file()
    except OSError:  # "File name too long": a feature vector of more than 255 characters
        return False


def _rows(result: Predictions) -> list[dict[str, float]]:
    columns = {
        "mean_ms": result.mean_ms,
        "variance_ms2": result.variance_ms2,
        "std_ms": result.std_ms,
        "lower_ms": result.lower_ms,
        "upper_ms": result.upper_ms,
    }
    return [{k: float(v[i]) for k, v in columns.items()} for i in range(len(result))]


def _print_csv(names: list[str], result: Predictions) -> None:
    from client.api import PREDICTION_FIELDS

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["arch", *PREDICTION_FIELDS])
    for name, row in zip(names, _rows(result), strict=True):
        values = (row["mean_ms"], row["variance_ms2"], row["lower_ms"], row["upper_ms"])
        writer.writerow([name, *(repr(v) for v in values)])


def _print_prediction_table(device: str, names: list[str], result: Predictions) -> None:
    from rich.table import Table

    table = Table(title=f"Predicted latency on {device} (model {result.model_version})")
    add_columns(table, ("arch", "mean ms", "sd ms", "90% low", "90% high"), left={"arch"})
    for name, row in zip(names, _rows(result), strict=True):
        values = (row["mean_ms"], row["std_ms"], row["lower_ms"], row["upper_ms"])
        table.add_row(name, *(milliseconds(v) for v in values))
    output_console().print(table)


@app.command()
def add(
    ctx: typer.Context,
    device: DeviceOption,
    arch: Annotated[
        str | None,
        typer.Argument(
            help="One arch timed by hand, with --latency-ms (more go in a --file).",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="CSV with a header and columns arch,latency_ms; - is stdin."
        ),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option(
            "--latency-ms",
            parser=decimal_number,
            callback=finite_if_given,
            help="ARCH's measured latency (ms).",
            show_default=False,
        ),
    ] = None,
    space: SpaceOption = None,
    request_id: UploadIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload measured latencies of a registered device (all rows, or none on any error).

    Examples:

      client add --device pi4 --file measured.csv

      client add --device pi4 --file - < measured.csv

      client add -d pi4 --latency-ms 12.7 \\
        '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'
    """
    from client.api import new_request_id

    pairs, places = _uploaded(arch, file, latency_ms)
    upload_id = new_request_id() if request_id is None else request_id
    with connect(ctx) as latency, items_named_by_place(places), _file_over_the_limit(file):
        with _interrupted_write_named("", upload_id):
            result = latency.add_measurements(
                device, pairs, search_space=_space(space), request_id=upload_id
            )
        # Not before: a refused upload joins none.
        _warn_if_stored_to_a_source(latency, device, _spaces_of((a for a, _ in pairs), space))
    warn_surprising(result, device, pairs, space, connection_words(ctx))
    accepted = f"{quantity(result.accepted, 'measurement')} for {device}"
    stored = f"the upload was stored, {accepted}"
    _print_written(device, result, as_json, f"accepted {accepted}", stored, "add it")


def _uploaded(
    arch: str | None, file: Path | None, latency_ms: float | None
) -> tuple[list[tuple[str, float]], list[str]]:
    """``add``'s ``(arch, latency_ms)`` pairs and how errors name each: a --file's rows, or
    the one ARCH with its --latency-ms."""
    if file is not None:
        if arch is not None or latency_ms is not None:
            raise typer.BadParameter(
                "give the measurements in the --file, or one ARCH with --latency-ms, not both",
                param_hint="ARCH / --latency-ms",
            )
        rows = read_measurements(file)
        return [(arch, value) for _, arch, value in rows], file_lines(file, [r[0] for r in rows])
    if arch is None:
        raise typer.BadParameter(
            "no measurements: give a --file of them, or one ARCH with --latency-ms",
            param_hint="--file",
        )
    _refuse_a_file_name(arch)
    if latency_ms is None:
        raise typer.BadParameter(
            "give the arch's measured latency with --latency-ms", param_hint="ARCH"
        )
    return [(arch, latency_ms)], ["ARCH argument"]


@app.command()
def delete(
    ctx: typer.Context,
    device: DeviceOption,
    archs: ArchsArgument = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="One arch per line (or a CSV with an arch column), every measurement of each"
            " deleted; or a CSV with columns arch,latency_ms, only those exact measurements"
            " deleted (not with ARCH arguments); - is stdin.",
        ),
    ] = None,
    space: SpaceOption = None,
    latency_ms: Annotated[
        float | None,
        typer.Option(
            "--latency-ms",
            parser=decimal_number,
            callback=finite_if_given,
            help="With one ARCH: delete only its measurements of exactly this latency (the"
            " value uploaded, or listed by `client measurements`).",
            show_default=False,
        ),
    ] = None,
    request_id: DeletionIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete measurements of a device (a unit slip, a run another process disturbed).

    One write deletes them all; predictions are made without them from then on (a
    source device's from the server's next start: its running fit keeps them).

    ARCH arguments, and a file of archs, delete every measurement of each arch. A
    --file CSV with columns arch,latency_ms (what `client measurements` prints,
    kept to the wrong rows) deletes only the measurements of each arch whose
    stored latency equals the row's exactly: the value `client measurements`
    lists, or the one uploaded, matches; a rounded one does not; so does
    --latency-ms with one ARCH. It keeps an arch's good measurements, and a source
    device's table value beside a slip (deleting an arch of a source device's
    NB201 table leaves it incomplete: the next start fits without the device).

    Archs and rows the device has no measurements of are no error (exit 0), but warned of.

    Examples:

      client delete -d jetson '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'

      client delete --device jetson --file wrong.txt

      client delete -d pi4 --latency-ms 0.0212 \\
        '|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'

      client measurements -d pi4 > pi4.csv  # then keep the header and the wrong rows

      client delete --device pi4 --file pi4.csv
    """
    from client.api import new_request_id

    listed, rows = read_deletions(file) if file is not None else ([], [])
    if rows and archs:  # the server's "arch N" and "measurement N" would both name places
        raise typer.BadParameter(
            "ARCH arguments delete every measurement of an arch; give them apart from a --file"
            " of exact measurements (columns arch,latency_ms)",
            param_hint="ARCH",
        )
    if file is not None and rows:
        names: list[str] = []
        places = file_lines(file, [line for line, _, _ in rows])
    else:
        names, places = _given_archs(archs, file, listed)
    exact = [(arch, ms) for _, arch, ms in rows]
    if latency_ms is not None:
        if file is not None or len(names) != 1:
            raise typer.BadParameter(
                "give exactly one ARCH with it (a --file of exact measurements takes columns"
                " arch,latency_ms)",
                param_hint="--latency-ms",
            )
        exact, names = [(names[0], latency_ms)], []
    deletion_id = new_request_id() if request_id is None else request_id
    with connect(ctx) as latency, items_named_by_place(places), _file_over_the_limit(file):
        with _interrupted_write_named("DeleteMeasurements", deletion_id):
            result = latency.delete_measurements(
                device, names, _space(space), deletion_id, measurements=exact
            )
        if result.source_table_incomplete:
            _warn_of_an_incomplete_source(latency, device)
    _warn_of_unmatched(device, result, bool(exact), places)
    deleted = f"{quantity(result.deleted, 'measurement')} of {device}"
    stored = f"the deletion was stored, {deleted} deleted"
    _print_written(device, result, as_json, f"deleted {deleted}", stored, "delete it")


def _warn_of_unmatched(device: str, result: DeleteResult, exact: bool, places: list[str]) -> None:
    """Warns (stderr) of the archs or rows of a deletion that matched no measurement: exit 0
    as asked, but a mistyped arch or a rounded latency reads the same. Among others that
    matched they went unsaid (a review, 2026-12-06)."""
    unmatched = result.unmatched_measurements if exact else result.unmatched_archs
    exactly = " (a latency must equal the stored one exactly)" if exact else ""
    if not result.deleted:
        what = "none of these measurements" if exact else "no measurements of these archs"
        typer.echo(
            f"warning: {device} has {what} in their search space{exactly}: nothing was deleted"
            " (see `client measurements`)",
            err=True,
        )
    elif unmatched:
        named = [places[i] for i in unmatched[:5] if i < len(places)]
        more = f" and {len(unmatched) - len(named)} more" if len(unmatched) > len(named) else ""
        what = "measurements" if exact else "archs"
        typer.echo(
            f"warning: {device} has no measurement of {len(unmatched)} of these {what}"
            f" ({', '.join(named)}{more}){exactly}: nothing of them was deleted",
            err=True,
        )


def _print_written(
    device: str,
    result: AddResult | DeleteResult,
    as_json: bool,
    summary: str,
    done: str,
    again: str,
) -> None:
    """A stored write's answer (``summary``: what it did), as JSON or a line with the device's
    total and model version; ``done`` and ``again`` as :func:`_said_done_if_unprinted` takes
    them, where the answer cannot be printed."""
    with _said_done_if_unprinted(done, again):
        if as_json:
            print_json({"device": device, **asdict(result)})
            return
        typer.echo(f"{summary}; it now has {result.device_total} (model {result.model_version})")


def _warn_of_an_incomplete_source(latency: LatencyClient, device: str) -> None:
    """Warns (stderr) that a deletion left a source device of the shared model without a
    complete NB201 table (the service tells): the running server's fit holds the table,
    deleted latencies included, and predicts the device (and the devices that resemble it)
    from it; its next start fits without it."""
    info = _looked_up_after(latency, device, "deleted")
    name = device if info is None else info.name
    typer.echo(
        f"warning: {name} is a source device of the shared model, whose fit in the"
        " running server keeps the deleted latencies until it restarts (its predictions of"
        f" {name} and of devices like it are unchanged till then); its NB201 table is"
        " incomplete now, and the server's next start fits the model without it; add the"
        " right latencies of these archs to complete it again",
        err=True,
    )


@contextmanager
def _said_done_if_unprinted(done: str, again: str) -> Iterator[None]:
    """A write's report that cannot be written (stdout on a full disk) says the write was
    ``done``, not to ``again``: "cannot write the output" alone read as a failed upload, and
    adding the file again stored it twice."""
    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        # A pipe closed early too (`| true`): click exited 1 without a word, the write
        # stored, and a script retrying on 1 stored it twice (a review, 2026-12-06).
        if not (_is_output_failure(exc) or exc.errno == errno.EPIPE):
            raise
        _drop_stdout()
        raise _UnprintedWriteError(
            f"cannot write the output: {exc.strerror} ({done}: do not {again} again)"
        ) from None


def _warn_if_stored_to_a_source(
    latency: LatencyClient, device: str, search_spaces: Iterable[str]
) -> None:
    """:func:`warn_if_source_device` after an upload that was stored."""
    info = _looked_up_after(latency, device, "uploaded")
    if info is not None:
        warn_if_source_device(info, search_spaces)


def _looked_up_after(latency: LatencyClient, device: str, done: str) -> DeviceInfo | None:
    """The device, looked up after a write that was ``done``; None where that failed, which
    is a warning, not the command's error: that read as a failed write and invited a second,
    duplicate one."""
    from client.errors import LatencyServiceError

    try:
        return latency.device(device)
    except LatencyServiceError as exc:
        typer.echo(f"warning: {done}, but could not look {device} up afterwards: {exc}", err=True)
        return None


def warn_surprising(
    result: AddResult,
    device: str,
    uploaded: Sequence[tuple[str, float]] = (),
    space: Space | None = None,
    connection: Sequence[str] = (),
) -> None:
    """Warns (stderr) of the latencies, uploaded or measured before, that the device's other
    measurements do not explain; ``uploaded``: the upload's (arch, latency) pairs of
    ``space`` (None: each arch's own), whose value of a surprising arch its hint deletes
    alone (where the arch was given once)."""
    values: dict[str, list[float]] = {}
    for arch, ms in uploaded:
        # As stored: FBNet by block index or a vector's "1" for "1.0" found no value, and the
        # hint deleted every measurement of the arch (a review, 2026-12-06).
        values.setdefault(_stored_spelling(arch, space), []).append(ms)
    for when, found in (("", result.surprising), (MEASURED_BEFORE, result.surprising_before)):
        for measurement in found:
            given = values.get(measurement.arch, []) if not when else []
            value = given[0] if len(given) == 1 else None
            hint = surprising_hint(device, measurement, value, connection)
            typer.echo(f"warning: {when}{measurement.describe()}; {hint}", err=True)


@app.command()
def measurements(
    ctx: typer.Context,
    device: DeviceOption,
    space: Annotated[Space, typer.Option("--space", help="Search space.")] = Space.nasbench201,
    as_json: JsonOption = False,
) -> None:
    """Print a device's stored measurements as CSV, in upload order.

    The columns are arch,latency_ms: what `add` reads.

    Examples:

      client measurements --device pi4 > pi4.csv

      client measurements --device pi4 --json | jq length
    """
    from service.names import vector_dim

    with connect(ctx) as latency:
        pairs = latency.measurements(device, space.value)
        # An empty listing of a device measured in another space (client measure --space fbnet)
        # looked like a device with no measurements at all.
        elsewhere = [] if pairs else _spaces_measured(latency, device, exclude=space)
    if elsewhere:
        spaces = ", ".join(f"--space {other}" for other in elsewhere)
        typer.echo(
            f"note: {device} has no {space.value} measurements, but has some under {spaces}",
            err=True,
        )
    lengths = sorted({vector_dim(arch) for arch, _ in pairs}) if space == Space.vector else []
    if len(lengths) > 1:
        # Stored before a device's vectors were held to one length: the listing as a whole was
        # refused by `add` ("line 13: expected 4 features ..., got 5"), and a device given one
        # length's rows refuses the other's.
        typer.echo(
            f"note: {device} holds vectors of {' and '.join(map(str, lengths))} features;"
            " a device takes one length, so upload each length's rows to a device of its own",
            err=True,
        )
    if as_json:
        print_json([{"arch": arch, "latency_ms": ms} for arch, ms in pairs])
        return
    write_measurements(sys.stdout, pairs)


def _spaces_of(archs: Iterable[str], space: Space | None) -> set[str]:
    """The search spaces of ``archs``: ``space``, or each arch's own."""
    from client.api import infer_space

    return {space.value} if space is not None else {infer_space(arch) for arch in archs}


def _conditioned_among(
    latency: LatencyClient, device: str, archs: Iterable[str], space: Space | None
) -> int:
    """How many of ``archs`` (each time it is listed) the device's predictions are conditioned
    on: its measurements and its reference archs."""
    spaces = [space] if space is not None else list(Space)
    conditioned = {
        arch for other in spaces for arch, _ in latency.measurements(device, other.value)
    }
    if Space.nasbench201 in spaces:  # reference latencies condition NB201 predictions only
        conditioned |= latency.device(device).reference_archs
    # Rows, not distinct archs: the warning says "N of the M archs" of the M rows scored.
    return sum(_stored_spelling(arch, space) in conditioned for arch in archs)


def _stored_spelling(arch: str, space: Space | None) -> str:
    """``arch`` as the service stores and lists it: it also takes FBNet block indices, spaces
    after commas and vector elements spelled otherwise ("1" for "1.0"), which would otherwise
    match none of the listed archs. Call it on archs the service has taken."""
    from client.api import infer_space
    from client.measure.networks import canonical_arch

    named = space.value if space is not None else infer_space(arch)
    if named == Space.vector:  # listed as its elements' repr, as gp.spaces.vector keys it
        # + 0.0: -0 is 0 there (gp.spaces.vector), and "-0,1" was another arch here.
        return ",".join(repr(float(element) + 0.0) for element in arch.split(","))
    return canonical_arch(arch, named)


def _repeated_archs(rows: Sequence[tuple[int, str, float]], space: Space | None) -> str:
    """What to say of archs a measurements file lists more than once, however spelt ("" if
    none): each row is scored as an arch, and the scores count them as so many archs."""
    lines: dict[str, list[int]] = {}
    for line, arch, _ in rows:
        lines.setdefault(_stored_spelling(arch, space), []).append(line)
    repeated = {arch: at for arch, at in lines.items() if len(at) > 1}
    if not repeated:
        return ""
    arch, at = next(iter(repeated.items()))
    return (
        f"{quantity(len(repeated), 'arch')} listed more than once (first {arch!r}, lines"
        f" {', '.join(map(str, at))}): each row is scored as an arch of its own"
    )


def flattery(conditioned: int, scored: int, device: str) -> str:
    """Why a score on ``conditioned`` of ``scored`` archs the device's model was conditioned on
    is too good."""
    return (
        f"{conditioned} of the {quantity(scored, 'arch')} {'is' if conditioned == 1 else 'are'}"
        f" among {device}'s measurements or reference"
        " archs: the model was conditioned on them, so the scores flatter it"
    )


def _spaces_measured(latency: LatencyClient, device: str, exclude: Space) -> list[str]:
    """The search spaces other than ``exclude`` in which ``device`` has measurements."""
    return [
        other.value
        for other in Space
        if other != exclude and latency.measurements(device, other.value)
    ]


def warn_if_source_device(info: DeviceInfo, search_spaces: Iterable[str]) -> None:
    """Warns (stderr) of an upload, of archs of ``search_spaces``, to one of the shared model's
    source devices: NB201 measurements join its complete table, and the server refits at its
    next start; others become its own beside it, which the fit (of NB201 tables alone) does not
    read. Call it once the upload goes ahead, not before one the service may refuse."""
    if not info.source:
        return
    spaces = set(search_spaces)
    others = sorted(spaces - {Space.nasbench201})
    refit = "the server refits the model at its next start"
    if not others:
        fate = f"these measurements join its table, and {refit}"
    else:
        fate = f"these {' and '.join(others)} measurements become its own, beside its NB201 table"
        if Space.nasbench201 in spaces:
            fate += f" (the NB201 ones join it, and {refit})"
        else:
            fate += " (the shared model, fitted on NB201 tables, does not change)"
    typer.echo(
        f"warning: {info.name} is a source device of the shared model (a complete NB201"
        f" table): {fate}; register your own device to keep them apart",
        err=True,
    )


@app.command()
def devices(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the registered devices.

    Examples:

      client devices

      client devices --json | jq -r '.[].name'
    """
    with connect(ctx) as latency:
        found = latency.devices()
    if as_json:
        print_json([asdict(d) for d in found])
        return
    from rich.table import Table

    table = Table(title=quantity(len(found), "device"))
    columns = ("name", "aliases", "measurements", "source", "description")
    add_columns(table, columns, left=set(columns) - {"measurements"})
    for d in found:
        source = "yes" if d.source else ""
        names = (plain_text(d.name), plain_text(", ".join(d.aliases)))
        table.add_row(*names, str(d.measurement_count), source, plain_text(d.description))
    output_console().print(table)


def _parse_descriptor(items: list[str]) -> dict[str, float]:
    from client.errors import ClientInputError

    descriptor: dict[str, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        key = key.strip()
        try:
            if not sep or not key:
                raise ValueError
            number = decimal(value)  # float() took "1_0" as 10
        except ValueError:
            raise ClientInputError(f"descriptor {item!r} is not KEY=NUMBER") from None
        if key in descriptor:  # else the last value won, and a typo lost another silently
            raise ClientInputError(
                f"descriptor key {key!r} is given twice ({descriptor[key]} and {number})"
            )
        descriptor[key] = number
    return descriptor


@app.command()
def register(
    ctx: typer.Context,
    device: Annotated[
        str, typer.Option("--device", "-d", help="The new device's name.", show_default=False)
    ],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Another name (repeatable).")
    ] = None,
    descriptor: Annotated[
        list[str] | None,
        typer.Option(
            "--descriptor",
            "-D",
            help="KEY=NUMBER fact about the device (repeatable); latency:<nb201 arch>=MS keys"
            " are reference latencies.",
        ),
    ] = None,
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register a new device (its name and aliases must be free).

    Examples:

      client register --device jetson_nano --alias nano --descriptor memory_gb=4

      client register -d tpu -D 'latency:|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|=3'
    """
    values = _parse_descriptor(descriptor or [])
    with connect(ctx) as latency:
        info = latency.register_device(device, alias or [], values, description)
    if as_json:
        print_json(asdict(info))
        return
    aliases = f" (aliases {', '.join(info.aliases)})" if info.aliases else ""
    count = quantity(len(info.descriptor), "descriptor value")
    typer.echo(f"registered {info.name}{aliases} with {count}")


@app.command()
def report(
    ctx: typer.Context,
    device: DeviceOption,
    measured: Annotated[
        Path,
        typer.Option("--measured", "-m", help="CSV with columns arch,latency_ms (held out)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help=f"Figure file ({', '.join(FIGURE_SUFFIXES)}).")
    ] = Path("report.png"),
    space: SpaceOption = None,
    as_json: ScoresJsonOption = False,
) -> None:
    """Score predictions against measured latencies: a figure and the numbers.

    The figure shows predicted vs measured latency (median and 90% interval,
    log axes) and the calibration curve; Spearman, acc10 (within 10%), MAPE,
    bias (mean signed error) and 90% coverage are printed. Use measurements
    the device's model has not been given, or the scores flatter it. Needs
    the report extra (pip install 'nas-latency-estimator\\[report]').

    Examples:

      client report --device pi4 --measured measured.csv --out report.png
    """
    require_extra("report")
    import numpy as np

    from client.metrics import scores_line
    from client.report import write_report

    check_output_path(out, "--out", FIGURE_SUFFIXES)
    rows = read_measurements(measured)
    require_positive_latencies(measured, rows)
    places = file_lines(measured, [r[0] for r in rows])
    with connect(ctx) as latency, items_named_by_place(places):
        prediction = latency.predict(device, [r[1] for r in rows], search_space=_space(space))
        conditioned = _conditioned_among(latency, device, [r[1] for r in rows], space)
    if conditioned:
        typer.echo(f"warning: {flattery(conditioned, len(rows), device)}", err=True)
    if repeated := _repeated_archs(rows, space):
        typer.echo(f"warning: {measured}: {repeated}", err=True)
    latencies = np.array([r[2] for r in rows])
    result = write_report(out, device, latencies, prediction)
    scores = result.scores
    if as_json:
        # What the text says beside the scores, for scripts: which model, and how many of
        # the archs it was conditioned on (a review, 2026-12-06).
        print_json(
            {
                "device": device,
                "figure": str(out),
                "model_version": prediction.model_version,
                "conditioned": conditioned,
                **scores.as_dict(),
            }
        )
        return
    beside = said_beside(out) is sys.stderr  # not into the figure where it is stdout's file
    typer.echo(
        f"{device}: {quantity(scores.n, 'arch')}  {scores_line(scores.as_dict())}", err=beside
    )
    typer.echo(f"wrote {out}", err=beside)


from client.measure import command as _measure_command  # noqa: E402, F401  (adds "measure")
