"""Configuration mistakes stop the server before it serves, with one line naming the setting."""

from __future__ import annotations

import socket
import ssl
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import service.cli
from service.cli import main
from service.config import (
    ENV_ADDRESS,
    ENV_DATASET,
    ENV_FIT_ITERATIONS,
    ENV_MAX_BATCH,
    ENV_METRICS_ADDRESS,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
    ServiceConfig,
    fit_settings_from_env,
    parse_address,
)
from service.errors import ConfigError
from service.server import create_server
from tests.service.conftest import TlsFiles


def test_address_parsing() -> None:
    assert parse_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:0") == ("::1", 0)
    with pytest.raises(ConfigError, match="'9464' is not host:port"):
        parse_address("9464")
    with pytest.raises(ConfigError, match="port 99999 is beyond 65535"):
        parse_address("127.0.0.1:99999")
    with pytest.raises(ConfigError, match="'127.0.0.1:\u00b2' is not host:port"):
        parse_address("127.0.0.1:\u00b2")  # str.isdigit() is true of it: int()'s ValueError


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "50051", "localhost:http", ":50051"])
def test_a_bad_listening_address_is_refused(address: str, tmp_path: Path) -> None:
    """Before, grpc took port 99999 as 99999 - 65536 = 34463 and listened there."""
    with pytest.raises(ConfigError, match="--address/LATENCY_ADDRESS"):
        ServiceConfig(address=address, store_path=tmp_path / "store.sqlite")


def test_a_port_another_server_holds_is_refused(tmp_path: Path) -> None:
    """grpc lets servers share a port by default; clients then got answers from either."""
    first = create_server(ServiceConfig(address="127.0.0.1:0", store_path=tmp_path / "a.sqlite"))
    try:
        taken = ServiceConfig(address=f"127.0.0.1:{first.port}", store_path=tmp_path / "b.sqlite")
        named = rf"cannot listen on 127.0.0.1:{first.port} \(--address/LATENCY_ADDRESS\)"
        with pytest.raises(ConfigError, match=named):
            create_server(taken)
        assert not (tmp_path / "b.sqlite").exists()  # no empty store left behind
    finally:
        first.stop(grace=0)


def test_a_metrics_port_that_cannot_be_served_leaves_no_store(tmp_path: Path) -> None:
    """Before, the store was created before the metrics endpoint failed to start."""
    store = tmp_path / "s.sqlite"
    with pytest.raises(ConfigError, match="--metrics-address/LATENCY_METRICS_ADDRESS"):
        ServiceConfig(address="127.0.0.1:0", store_path=store, metrics_address="9464")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        config = ServiceConfig(address="127.0.0.1:0", store_path=store, metrics_address=address)
        named = r"cannot serve metrics on .* \(--metrics-address/LATENCY_METRICS_ADDRESS\)"
        with pytest.raises(ConfigError, match=named):
            create_server(config)
    assert not store.exists()


def test_one_worker_has_one_suggestion_slot(tmp_path: Path) -> None:
    """Half the workers, rounded down, would be none: every SuggestSamples refused as busy."""
    config = ServiceConfig(store_path=tmp_path / "store.sqlite", max_workers=1)
    assert config.suggestion_slots == 1


def test_a_batch_limit_below_one_is_refused_when_given_directly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be positive, got 0"):
        ServiceConfig(store_path=tmp_path / "store.sqlite", max_batch=0)


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5"])
def test_a_batch_limit_that_is_not_a_positive_integer_is_refused(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_MAX_BATCH, value)
    with pytest.raises(ConfigError, match=f"{ENV_MAX_BATCH}='{value}': expected a positive"):
        ServiceConfig.from_env(store_path=tmp_path / "store.sqlite")


def test_the_batch_limit_and_fit_iterations_are_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_MAX_BATCH, "7")
    monkeypatch.setenv(ENV_FIT_ITERATIONS, "12")
    config = ServiceConfig.from_env(store_path=tmp_path / "store.sqlite")
    assert (config.max_batch, config.fit.iterations) == (7, 12)


def test_fit_iterations_that_are_not_a_number_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_FIT_ITERATIONS, "abc")
    with pytest.raises(ConfigError, match=f"{ENV_FIT_ITERATIONS}='abc'"):
        fit_settings_from_env()


def test_flags_left_out_keep_each_variable_in_its_own_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve passes every flag it was not given as None: each must leave the environment's
    value, and each variable must land in its own setting (cert and key alike are paths)."""
    values = {
        ENV_ADDRESS: "127.0.0.1:6001",
        ENV_TLS_CERT: str(tmp_path / "cert.pem"),
        ENV_TLS_KEY: str(tmp_path / "key.pem"),
        ENV_METRICS_ADDRESS: "127.0.0.1:6002",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    flags = ("address", "dataset", "tls_cert", "tls_key", "token_file", "metrics_address")
    config = ServiceConfig.from_env(store_path=tmp_path / "s.sqlite", **dict.fromkeys(flags))
    assert config.address == values[ENV_ADDRESS]
    assert (config.tls_cert, config.tls_key) == (Path(values[ENV_TLS_CERT]), tmp_path / "key.pem")
    assert config.metrics_address == values[ENV_METRICS_ADDRESS]


def test_a_dataset_from_the_environment_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DATASET, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=f"--dataset/{ENV_DATASET}: "):
        ServiceConfig.from_env(store_path=tmp_path / "s.sqlite")


def test_serve_reports_a_bad_setting_in_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_FIT_ITERATIONS, "abc")
    store = tmp_path / "store.sqlite"
    assert main(["serve", "--store", str(store), "--address", "127.0.0.1:0"]) == 2
    assert f"cannot start: {ENV_FIT_ITERATIONS}='abc'" in caplog.text
    assert not store.exists()


def test_empty_logging_variables_mean_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.cli import build_parser

    monkeypatch.setenv("LATENCY_LOG_LEVEL", "")
    monkeypatch.setenv("LATENCY_LOG_FORMAT", "")
    args = build_parser().parse_args(["health"])
    assert (args.log_level, args.log_format) == ("INFO", "text")
    assert build_parser().parse_args(["--log-level", "warn", "health"]).log_level == "WARN"


def test_the_log_format_ignores_case_as_the_level_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """LATENCY_LOG_FORMAT=JSON was refused where LATENCY_LOG_LEVEL=info was not (a review)."""
    from service.cli import build_parser

    monkeypatch.setenv("LATENCY_LOG_FORMAT", "JSON")
    assert build_parser().parse_args(["health"]).log_format == "json"
    assert build_parser().parse_args(["serve", "--log-format", "Text"]).log_format == "text"


@pytest.mark.parametrize(("terminal", "log_format", "bars"), [
    (True, "text", True), (True, "json", False), (False, "text", False),
])  # fmt: skip
def test_import_help_draws_progress_bars_on_a_terminal_beside_text_logs_only(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    log_format: str,
    bars: bool,
) -> None:
    """Its bars went to stderr among the JSON lines, and into files (a review, 2026-12-06)."""
    from gp.spaces.nasbench201 import NUM_ARCHS
    from service.cli import main
    from tests.helpers import write_help_dataset

    root = write_help_dataset(tmp_path / "dataset", {"a": [1.0] * NUM_ARCHS})
    store = str(tmp_path / "s.sqlite")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert main(["--log-format", log_format, "import-help", str(root), "--store", store]) == 0
    assert ("importing HELP tables" in capsys.readouterr().err) == bars


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--log-format", "json", "--log-level", "debug"],
        ["--log-format", "json", "--log-level", "debug", "serve"],
        ["--log-format", "text", "serve", "--log-format", "json", "--log-level", "debug"],
    ],
)
def test_logging_options_go_before_or_after_the_command(argv: list[str]) -> None:
    """The README lists --log-format among serve's flags; after serve it was refused."""
    from service.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.command, args.log_level, args.log_format) == ("serve", "DEBUG", "json")


def test_health_documents_its_options_and_reads_an_empty_address_as_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """health's --address and --timeout had no help; an empty LATENCY_ADDRESS (which serve
    ignores) made health dial an empty address."""
    from service.cli import build_parser

    monkeypatch.setenv("COLUMNS", "300")  # one option per line
    monkeypatch.setenv("LATENCY_ADDRESS", "")
    parser = build_parser()
    assert parser.parse_args(["health"]).address == "127.0.0.1:50051"
    health = parser._subparsers._group_actions[0].choices["health"]
    text = health.format_help()
    assert "(env LATENCY_ADDRESS; 127.0.0.1:50051)" in text
    assert "seconds to wait for the answer" in text


def test_the_main_help_is_plain_text() -> None:
    """It printed the module docstring, reST markup included (``python -m service ...``)."""
    from service.cli import build_parser

    text = build_parser().format_help()
    assert "``" not in text and "Without a command it serves" in " ".join(text.split())


def test_serve_help_says_where_the_fit_is_cached_what_refits_and_the_signals() -> None:
    """An operator reading ``serve --help`` learns the cache file, what costs a refit at the
    next start, and that SIGHUP reloads nothing."""
    from service.cli import build_parser

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    text = " ".join(serve.format_help().split())
    assert "<store>.model.pt" in text and "refits" in text
    assert "SIGHUP reloads nothing" in text and "default 100000" in text


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (["--log-level", "bogus", "health"], {}, "--log-level: invalid choice: 'BOGUS'"),
        (["health"], {"LATENCY_LOG_LEVEL": "loud"}, "LATENCY_LOG_LEVEL='loud'"),
        (["health"], {"LATENCY_LOG_FORMAT": "xml"}, "LATENCY_LOG_FORMAT='xml'"),
    ],
)
def test_bad_logging_options_are_usage_errors(
    argv: list[str],
    env: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    if env:  # a setting, not a flag: one line naming it (the usage came first before)
        assert err.count("\n") == 1 and err.startswith("latency-service: error: LATENCY_LOG_")


def test_health_with_an_unreadable_ca_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.pem"
    assert main(["health", "--ca", str(missing)]) == 2
    assert f"cannot read --ca {missing}" in capsys.readouterr().err


@pytest.mark.parametrize("variable", ["LATENCY_TLS_CA", "LATENCY_CA_CERT"])
def test_health_names_the_variable_a_bad_ca_file_came_from(
    variable: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both said "--ca", which the user never gave: the client's LATENCY_CA_CERT, which health
    falls back on, left them looking for a health option."""
    missing, empty = tmp_path / "nope.pem", tmp_path / "empty.pem"
    empty.write_bytes(b"")
    monkeypatch.delenv("LATENCY_TLS_CA", raising=False)
    for path, said in (
        (missing, f"cannot read ${variable} {missing}: "),
        (empty, f"${variable}: "),
    ):
        monkeypatch.setenv(variable, str(path))
        assert main(["health", "--address", "127.0.0.1:1"]) == 2
        assert capsys.readouterr().err.startswith(said)


@pytest.mark.parametrize("option", ["--ca", "--ca-cert"])  # --ca-cert: the client's name
def test_health_refuses_a_ca_file_without_a_pem_certificate(
    option: str, tls_files: TlsFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """grpc took a DER file and the server read as down: "unhealthy: UNAVAILABLE", exit 1."""
    der = tmp_path / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(tls_files.ca.read_text()))
    assert main(["health", "--address", "127.0.0.1:1", option, str(der)]) == 2
    assert capsys.readouterr().err == (
        f"--ca: no PEM certificate (-----BEGIN CERTIFICATE-----) in {der}: convert a DER file"
        f" with openssl x509 -inform der -in {der} -out {tmp_path / 'ca.pem'}\n"
    )


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("", "'' is not host:port"),  # it printed "unhealthy: UNKNOWN", exit 1
        ("localhost", "'localhost' is not host:port"),  # grpc dialled port 443
        ("localhost:", "'localhost:' is not host:port"),
        ("localhost:99999", "'localhost:99999': port 99999 is beyond 65535"),
    ],
)
def test_health_refuses_an_address_that_is_not_host_port_before_asking(
    address: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["health", "--address", address, "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err == f"--address/LATENCY_ADDRESS {problem}\n"
    monkeypatch.setenv("LATENCY_ADDRESS", address or " ")  # empty: read as the default
    assert main(["health", "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err.startswith("--address/LATENCY_ADDRESS ")


def test_health_reads_an_empty_ca_variable_as_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LATENCY_TLS_CA="" was the path "" (the current folder): "cannot read --ca .: Is a
    directory", exit 2, where every other empty variable means its default."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    monkeypatch.setenv("LATENCY_TLS_CA", "")
    try:
        assert main(["health", "--address", address]) == 0
        assert capsys.readouterr().out == f"{address}: SERVING\n"
    finally:
        server.stop(grace=0)


def test_health_names_the_address_it_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """It printed a bare SERVING or "unhealthy: UNAVAILABLE": of which server, a script
    checking several could not tell."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert main(["health", "--address", address]) == 0
        assert capsys.readouterr().out == f"{address}: SERVING\n"
        health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert main(["health", "--address", address]) == 1
        assert capsys.readouterr().out == f"{address}: NOT_SERVING\n"
    finally:
        server.stop(grace=0)
    assert main(["health", "--address", address, "--timeout", "0.5"]) == 1
    assert capsys.readouterr().err.startswith(f"{address}: unhealthy: UNAVAILABLE")


def test_health_says_why_no_server_answered(capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped port printed "unhealthy: UNAVAILABLE" alone, as if a server there had
    answered that it was unhealthy; grpc's details say that nothing listens there."""
    with socket.socket() as probe:  # bound, never listening: the connection is refused
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
        assert main(["health", "--address", address]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{address}: unhealthy: UNAVAILABLE (") and err.count("\n") == 1
    assert "Connection refused" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf"])
def test_health_refuses_a_timeout_that_is_not_a_positive_finite_number(
    timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, any of these asked the server and printed "unhealthy: DEADLINE_EXCEEDED" (or
    UNAVAILABLE), exit 1, as if the server were down; "inf" (wait as long as it takes) too."""
    with pytest.raises(SystemExit) as info:
        main(["health", "--address", "127.0.0.1:1", "--timeout", timeout])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--timeout: {timeout!r} is not a positive, finite number of seconds" in err
    assert "unhealthy" not in err


def test_health_with_a_timeout_beyond_what_grpc_can_carry_asks_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """grpc answers DEADLINE_EXCEEDED, without asking, to a deadline past 2**63 ns after 1970:
    "--timeout 1e10" printed "unhealthy: DEADLINE_EXCEEDED" of a server that was SERVING."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        assert main(["health", "--address", address, "--timeout", "1e10"]) == 0
        assert capsys.readouterr().out == f"{address}: SERVING\n"
    finally:
        server.stop(grace=0)


def test_gen_stubs_without_grpcio_tools_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """grpcio-tools comes with the test extra only: without it gen-stubs ended in a
    ModuleNotFoundError traceback."""
    monkeypatch.setitem(sys.modules, "grpc_tools", None)  # import raises ImportError
    assert main(["gen-stubs"]) == 2
    assert "gen-stubs: grpcio-tools is not installed" in capsys.readouterr().err


def test_gen_stubs_outside_a_checkout_says_it_needs_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed package has no proto/ beside it: gen-stubs printed protoc's "Could not make
    proto path relative" and a RuntimeError traceback."""
    from service import gen_stubs

    monkeypatch.setattr(gen_stubs, "PROTO_ROOT", tmp_path / "proto")
    monkeypatch.setattr(gen_stubs, "STUB_ROOT", tmp_path / "stubs")
    # Said first, grpcio-tools or not: installing it outside a checkout helps nothing.
    monkeypatch.setitem(sys.modules, "grpc_tools", None)
    assert main(["gen-stubs"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'proto'}" in err and "checkout" in err and "grpcio-tools" not in err
    assert not (tmp_path / "stubs").exists()


def test_both_commands_print_the_installed_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A user reporting a bug could not say which build ran (a review, 2026-12-06)."""
    from importlib import metadata

    from typer.testing import CliRunner

    from client.cli import app

    version = metadata.version("nas-latency-estimator")
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"latency-service {version}\n"
    printed = CliRunner().invoke(app, ["--version"])
    assert (printed.exit_code, printed.stdout) == (0, f"client (nas-latency-estimator) {version}\n")


def test_ctrl_c_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Ctrl-C in import-help (or in serve before its handlers are installed) printed a
    KeyboardInterrupt traceback."""

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(service.cli._COMMANDS, "import-help", interrupted)
    assert main(["import-help", str(tmp_path), "--store", str(tmp_path / "s.sqlite")]) == 130
    assert [r.getMessage() for r in caplog.records if r.name == "service"] == ["interrupted"]


def _served_config(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> ServiceConfig:
    """The configuration ``main(argv)`` hands to the server, which is not started."""
    import service.server

    served: list[ServiceConfig] = []
    monkeypatch.setattr(service.server, "serve", lambda config: served.append(config) or 0)
    assert main(argv) == 0
    assert len(served) == 1
    return served[0]


def test_every_serve_flag_reaches_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, help_dataset_dir: Path
) -> None:
    """A flag serve parsed but did not pass on was ignored without a word (only a slow process
    test, through the metrics it scrapes, noticed --metrics-address go missing)."""
    monkeypatch.delenv("LATENCY_TOKEN", raising=False)
    paths = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "token")}
    config = _served_config(
        monkeypatch,
        [
            *("serve", "--address", "127.0.0.1:6001", "--store", str(tmp_path / "s.sqlite")),
            *("--dataset", str(help_dataset_dir), "--metrics-address", "127.0.0.1:6002"),
            *("--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])),
            *("--token-file", str(paths["token"])),
        ],
    )
    assert (config.address, config.metrics_address) == ("127.0.0.1:6001", "127.0.0.1:6002")
    assert (config.store_path, config.dataset) == (tmp_path / "s.sqlite", help_dataset_dir)
    assert (config.tls_cert, config.tls_key) == (paths["cert"], paths["key"])
    assert config.token_file == paths["token"]


def test_without_a_command_the_service_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module docstring and --help promise that plain ``python -m service`` serves."""
    monkeypatch.setenv("LATENCY_STORE", str(tmp_path / "s.sqlite"))
    monkeypatch.setenv("LATENCY_ADDRESS", "127.0.0.1:6003")
    config = _served_config(monkeypatch, [])
    assert (config.address, config.store_path) == ("127.0.0.1:6003", tmp_path / "s.sqlite")


def test_health_waits_as_long_as_its_help_says_by_default() -> None:
    from service.cli import build_parser

    parser = build_parser()
    health = parser._subparsers._group_actions[0].choices["health"]
    assert "(default 3)" in health.format_help()
    assert parser.parse_args(["health"]).timeout == 3.0


@pytest.mark.parametrize("name", [ENV_MAX_BATCH, ENV_FIT_ITERATIONS])
def test_an_empty_number_variable_means_its_default(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every other empty variable does: `-e LATENCY_MAX_BATCH=$LIMIT` with LIMIT unset must
    not stop the start."""
    from gp.model import FitSettings
    from service.config import DEFAULT_MAX_BATCH

    monkeypatch.setenv(name, "")
    config = ServiceConfig.from_env(store_path=tmp_path / "store.sqlite")
    assert (config.max_batch, config.fit) == (DEFAULT_MAX_BATCH, FitSettings())


@pytest.mark.parametrize(("workers", "slots"), [(8, 4), (9, 4), (2, 1)])
def test_half_the_workers_may_choose_suggestions_at_once(
    workers: int, slots: int, tmp_path: Path
) -> None:
    """The other half stays free for the cheap calls while suggestions are chosen."""
    config = ServiceConfig(store_path=tmp_path / "store.sqlite", max_workers=workers)
    assert config.suggestion_slots == slots


@pytest.mark.skipif(
    sys.platform != "linux", reason="XDG_DATA_HOME names the user's data directory on Linux"
)
def test_without_a_store_setting_the_store_is_in_the_user_s_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where earlier versions kept it: another folder would serve a new, empty store."""
    from service.config import ENV_STORE, store_path_from_env

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv(ENV_STORE, raising=False)
    expected = tmp_path / "nas-latency-estimator" / "store.sqlite"
    assert store_path_from_env() == expected
    assert ServiceConfig.from_env().store_path == expected
