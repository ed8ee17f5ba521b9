"""The test suite.

Imported before its conftest, so the environment is settled before anything reads it: the
runner's own variables must not change what the code under test does. A CI's forced colours
(typer and rich honour ``GITHUB_ACTIONS``, ``FORCE_COLOR``, ``PY_COLORS``) put ANSI codes in
the CLI's output; a service variable (a token, TLS files) changes every server the tests start
in a subprocess; a proxy takes their loopback calls (grpc and the metrics scrapes) away.
"""

import os

#: The variables the suite itself reads: where the tables are, and longer fuzzing and crash
#: runs (the README's).
_SUITE_SETTINGS = {"LATENCY_DATASET_DIR", "LATENCY_FUZZ_EXAMPLES", "LATENCY_CRASH_CYCLES"}
_RUNNER_ONLY = {"GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE"}
_PROXIES = {"http_proxy", "https_proxy", "grpc_proxy", "all_proxy"}

for _name in list(os.environ):
    service_setting = _name.startswith("LATENCY_") and _name not in _SUITE_SETTINGS
    if service_setting or _name in _RUNNER_ONLY or _name.lower() in _PROXIES:
        del os.environ[_name]
