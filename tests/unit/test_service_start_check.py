"""The start-up check of scripts/services/*.sh: a server still exec'ing is not 'exited'.

CI once failed with "milvus: the server exited during start-up" while the server was in fact
starting: the first check ran before the forked shell had exec'd the server, so the PID's
name was still ``bash``, and the name check (meant for stale PID files) said it was gone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "scripts" / "services" / "lib.sh"


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f'. "{LIB}"; pidfile="{tmp_path}/server.pid"; {script}'],
        capture_output=True, text=True, timeout=30, check=False)


def test_a_forked_process_not_yet_the_server_counts_as_started(tmp_path):
    # the child is a shell (name bash/sleep, never "milvus"): alive, so started
    done = _run('sleep 5 & echo $! >"$pidfile"; started "$pidfile" && echo alive; '
                'kill $!', tmp_path)
    assert done.stdout.strip() == "alive"


def test_a_process_that_exited_does_not_count_as_started(tmp_path):
    done = _run('true & echo $! >"$pidfile"; wait; started "$pidfile" || echo gone', tmp_path)
    assert done.stdout.strip() == "gone"


def test_a_missing_pid_file_does_not_count_as_started(tmp_path):
    done = _run('started "$pidfile" || echo gone', tmp_path)
    assert done.stdout.strip() == "gone"
