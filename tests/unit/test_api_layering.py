"""The HTTP layer stays a layer: HTTP types and web frameworks only under ``api/``; the
library never imports them."""

from __future__ import annotations

import re
from pathlib import Path

import faceledger

PACKAGE = Path(faceledger.__file__).resolve().parent
# an HTTP client (http.client, fetching a URL list) is no web framework
HTTP_ONLY = re.compile(r"\b((?<!client\.)HTTPException|fastapi|starlette|uvicorn)\b")


def test_http_types_only_in_api():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "api":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if HTTP_ONLY.search(code) and ("import" in code or "HTTPException" in code):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    # the CLI may start the server, but only through faceledger.api
    offenders = [o for o in offenders if not (o.startswith("cli/serve_cmd.py")
                                              and "import uvicorn" in o)]
    assert not offenders, "\n".join(offenders)


def test_importing_the_library_does_not_import_the_web_stack():
    import subprocess
    import sys

    code = ("import sys, faceledger, faceledger.ledger; "
            "web = {'fastapi', 'starlette', 'uvicorn'}; "
            "print(any(m.split('.')[0] in web for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


BENCH_IMPORT = re.compile(r"^\s*(from|import)\s+faceledger_bench\b")


def test_the_library_never_imports_the_bench_package():
    """Benchmarks are a package beside the library: faceledger_bench imports faceledger,
    never the other way round (the CLI names it only as a string, imported on demand)."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BENCH_IMPORT.search(line)
    ]
    assert not offenders, "\n".join(offenders)
    assert not (PACKAGE / "bench").exists(), "benchmark code is back inside the library"


def test_importing_the_library_and_its_cli_does_not_import_the_benchmarks():
    import subprocess
    import sys

    code = ("import sys, faceledger, faceledger.ledger, faceledger.cli.main; "
            "from click.testing import CliRunner; "
            "r = CliRunner().invoke(faceledger.cli.main.main, ['--help']); "
            "assert r.exit_code == 0 and 'bench' in r.output, r.output; "
            "print(any(m.split('.')[0] == 'faceledger_bench' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_bench_command_loads_its_commands_on_demand():
    from click.testing import CliRunner

    from faceledger.cli.main import main

    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for name in ("verify", "identify", "detect", "calibrate", "index", "ingest", "optout"):
        assert name in result.output
    result = CliRunner().invoke(main, ["bench", "verify", "--help"])
    assert result.exit_code == 0 and "--pairs" in result.output
