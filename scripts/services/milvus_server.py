"""Start the Milvus standalone server that the PyPI package ``milvus`` embeds, detached.

Usage: python scripts/services/milvus_server.py BASE_DIR [PORT]

The package's own ``default_server.start()`` keeps the server as a child of the Python
process that started it (and stops it when that process exits). This script uses the
package's configuration code (``MilvusServerConfig``: config template, free ports, data
dirs under BASE_DIR) and its binaries, then *execs* the server, so the PID that
``scripts/services/milvus.sh`` records is the server's own.

Settings that differ from the package's defaults, and why:

* every component advertises 127.0.0.1 (``*.ip``); Milvus 2.3 has no setting for the address
  its gRPC port binds, so it listens on every interface: authentication is therefore on
  (``common.security.authorizationEnabled``), and ``milvus.sh`` replaces the default root
  password with a random one at the first start;
* erasure (docs/privacy.md, "Milvus"): dropped segment files are garbage-collected within
  seconds of a compaction (``dataCoord.gc``), the message queue (rocksmq, which holds every
  insert message) keeps consumed messages for one minute in pages of 256 KiB (a page goes only
  when all of it is past retention) and compacts its RocksDB files
  every minute, with no compression, so a scan of the data dir for a vector's bytes means
  what it says.
"""

from __future__ import annotations

import json
import os
import sys
from os.path import dirname, join

from milvus import MilvusServerConfig, _initialize_data_files

EXTRA = {
    "proxy.ip": "127.0.0.1",
    "rootCoord.ip": "127.0.0.1",
    "queryCoord.ip": "127.0.0.1",
    "queryNode.ip": "127.0.0.1",
    "indexCoord.ip": "127.0.0.1",
    "indexNode.ip": "127.0.0.1",
    "dataCoord.ip": "127.0.0.1",
    "dataNode.ip": "127.0.0.1",
    "dataCoord.gc.interval": 5,
    # files not (yet) in the meta: a compaction writes its output before it records it, so
    # a short tolerance deletes a compaction's own files on a busy machine, and Milvus 2.3.5
    # then panics completing it (seen in CI: prepareCompactionMutation, index out of range).
    # Erased vectors leave through dropTolerance (dropped segments), not through this.
    "dataCoord.gc.missingTolerance": 3600,
    "dataCoord.gc.dropTolerance": 1,
    "rocksmq.retentionTimeInMinutes": 1,
    "rocksmq.rocksmqPageSize": 262144,
    "rocksmq.compactionInterval": 60,
    "rocksmq.compressionTypes": "[0, 0, 0, 0, 0]",
    "common.security.authorizationEnabled": "true",
    "log.level": "warn",
    "common.gracefulStopTimeout": 10,
}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    base = os.path.abspath(argv[1])
    config = MilvusServerConfig(data_dir=base)
    if len(argv) == 3 and argv[2]:
        config.update(proxy_port=int(argv[2]))
    for key, value in EXTRA.items():
        config.set(key, value)
    config.resolve()  # ports, dirs, configs/milvus.yaml
    _initialize_data_files(base)
    metrics_port, sock = config.resolve_port(9091)
    sock.close()
    exe = join(base, "bin", "milvus")
    env = dict(os.environ)
    env.update({
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(metrics_port),
        "MILVUS_RUN_DIR": join(base, "run"),
        "LD_LIBRARY_PATH": ":".join([dirname(exe), os.environ.get("LD_LIBRARY_PATH", "")]),
    })
    with open(join(base, "ports.json"), "w", encoding="utf-8") as f:
        json.dump({"port": int(config.get("proxy_port")), "metrics_port": metrics_port}, f)
    os.chdir(base)
    os.execve(exe, [exe, "run", "standalone"], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
