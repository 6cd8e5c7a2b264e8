"""An outsider against the project's Milvus server (scripts/services/milvus.sh): Milvus 2.3
binds every port it has on every interface and has no setting to bind fewer, and its
internal gRPC ports ask for no password. The server runs in a network namespace of its own,
with authentication on and a random root password."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


def test_the_server_refuses_a_client_without_its_password(milvus_url):
    """Milvus 2.3 listens on every interface (it has no bind-address setting), so the
    project's server runs with authentication on and a random root password: a client
    without it, or with Milvus's default one, lists nothing."""
    pymilvus = pytest.importorskip("pymilvus")
    grpc = pytest.importorskip("grpc")
    from faceledger.store.milvus_vectors import MilvusURL, credentials

    url = MilvusURL.parse(milvus_url)
    assert credentials(), "the services' env file gives the Milvus user and password"
    for given in ({}, {"user": "root", "password": "Milvus"}):
        alias = "anon-" + uuid.uuid4().hex[:6]
        # pymilvus passes the server's refusal up as gRPC's own error, or as its own
        with pytest.raises((pymilvus.exceptions.MilvusException, grpc.RpcError)) as err:
            pymilvus.connections.connect(alias=alias, host=url.host, port=url.port,
                                         timeout=10, **given)
            pymilvus.utility.list_collections(using=alias, timeout=10)
        assert any(w in str(err.value).lower() for w in ("auth", "password", "credential"))
        pymilvus.connections.disconnect(alias)
    alias = "auth-" + uuid.uuid4().hex[:6]
    pymilvus.connections.connect(alias=alias, host=url.host, port=url.port, timeout=10,
                                 **credentials())
    assert isinstance(pymilvus.utility.list_collections(using=alias, timeout=10), list)
    pymilvus.connections.disconnect(alias)


def _listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the network namespace of process ``pid``."""
    ports = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _host_addresses() -> list[str]:
    """This host's own IPv4 addresses (every interface of this network namespace)."""
    import fcntl
    import socket
    import struct

    out = ["127.0.0.1"]
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            out.append(socket.inet_ntoa(packed[20:24]))
    return sorted(set(out))


def test_no_port_of_the_server_is_open_on_the_hosts_addresses(milvus_url):
    """Milvus 2.3 binds every port it has on every interface, and its internal gRPC ports
    ask for no password: scripts/services/milvus.sh runs it in a network namespace of its
    own. None of the ports it listens on may answer on any address of this host (what an
    outsider can reach); the proxy answers on the namespace's address only."""
    import os
    import socket

    from faceledger.store.milvus_vectors import MilvusURL

    services = Path(os.environ.get("FACELEDGER_SERVICES_DIR") or "/tmp/faceledger-services")
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root; without it the ports are open")
    assert (services / "milvus" / "host").exists(), "milvus.sh ran the server on the host"
    pid = int((services / "milvus" / "server.pid").read_text())
    url = MilvusURL.parse(milvus_url)
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    ports = _listening_ports(pid)
    assert url.port in ports and len(ports) >= 5, ports  # proxy, coordinators, nodes, metrics
    ours = _listening_ports(os.getpid())  # numbers the host's own servers hold here
    reached = []
    for address in _host_addresses():
        for port in sorted(ports - ours):
            with socket.socket() as s:
                s.settimeout(2)
                if s.connect_ex((address, port)) == 0:
                    reached.append((address, port))
    assert not reached, f"Milvus ports open on the host's addresses: {reached}"
    with socket.create_connection((url.host, url.port), timeout=5):
        pass  # the proxy answers where the env file says
