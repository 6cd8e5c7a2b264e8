"""A real local Ray cluster on loopback for the tests: a head node and one more worker node,
each a ``ray start --block`` process in its own session, stopped by its process group (never
``ray stop``, which would stop every Ray cluster on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faceledger

SRC = Path(faceledger.__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([RAY, "start", "--block", *args], env=env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    @property
    def pgid(self) -> int:
        return self.proc.pid  # the session leader: its group holds the node's processes

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        self.kill(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class LocalCluster:
    """Head node (1 CPU) plus one worker node (1 CPU), both on 127.0.0.1."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="flray-", dir="/tmp"))  # short socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
        self.env.update({
            "RAY_USAGE_STATS_ENABLED": "0",
            # a cluster on loopback for one test: no token (a token file left in ~/.ray by
            # an earlier local ray.init would otherwise switch the head to token mode)
            "RAY_AUTH_MODE": "disabled",
            # a dead node is noticed in seconds, not the default half minute
            "RAY_health_check_initial_delay_ms": "1000",
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        })
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
                  "--object-store-memory=100000000", "--disable-usage-stats"]
        self.head = Node(["--head", f"--port={self.port}", "--include-dashboard=false",
                          f"--temp-dir={self.dir}", *common], self.env, self.dir / "head.log")
        self.nodes = [self.head]
        try:
            self._wait_for_head()
            self.worker = Node([f"--address={self.address}", *common], self.env,
                               self.dir / "worker.log")
            self.nodes.append(self.worker)
        except BaseException:
            self.stop()
            raise

    def _wait_for_head(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.head.proc.poll() is not None:
                raise RuntimeError("ray start --head exited: "
                                   + self.head.log.read_text(errors="replace")[-2000:])
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray head did not listen on {self.address} in {timeout:.0f} s")

    def wait_for_cpus(self, ray, cpus: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ray.cluster_resources().get("CPU", 0) >= cpus:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the cluster did not reach {cpus} CPUs in {timeout:.0f} s")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
