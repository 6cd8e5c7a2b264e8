"""The compiled-network cache serves a network only from a private directory of this user,
under a key that names everything the network depends on; a damaged entry is compiled
again, and a directory it cannot trust is not written to (the load still works)."""

from __future__ import annotations

import io
import os

import pytest

from faceledger.models.compiled_cache import CompiledCache, cache_for


class Network:
    """What the cache needs of a compiled network: export_model."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def export_model(self) -> io.BytesIO:
        return io.BytesIO(self.payload)


def load(cache: CompiledCache, key: str, payload: bytes = b"NET1") -> tuple[Network, list[str]]:
    calls: list[str] = []

    def compile_() -> Network:
        calls.append("compile")
        return Network(payload)

    def import_(stream: io.BytesIO) -> Network:
        data = stream.read()
        if not data.startswith(b"NET"):
            raise RuntimeError("not a network")
        calls.append("import")
        return Network(data)

    return cache.compiled(key, compile_, import_), calls


def test_the_setting_names_the_directory_or_turns_it_off(tmp_path):
    assert cache_for("off") is None
    assert cache_for("auto", {"XDG_CACHE_HOME": str(tmp_path)}).directory == (
        tmp_path / "faceledger" / "compiled")
    assert cache_for(str(tmp_path / "c")).directory == tmp_path / "c"


def test_a_network_is_compiled_once_then_imported(tmp_path):
    cache = CompiledCache(tmp_path / "c")
    first, calls = load(cache, "k1")
    assert calls == ["compile"]
    again, calls = load(CompiledCache(tmp_path / "c"), "k1")
    assert calls == ["import"] and again.payload == first.payload
    assert os.stat(tmp_path / "c").st_mode & 0o777 == 0o700
    assert os.stat(tmp_path / "c" / "k1.blob").st_mode & 0o077 == 0


def test_keys_change_with_the_model_the_shape_the_settings_and_the_runtime(tmp_path):
    cache = CompiledCache(tmp_path)
    base = cache.key("d1", (2, 3, 128, 128), {"A": "1"}, "openvino 1", "CPU")
    assert base == cache.key("d1", (2, 3, 128, 128), {"A": "1"}, "openvino 1", "CPU")
    others = {
        cache.key("d2", (2, 3, 128, 128), {"A": "1"}, "openvino 1", "CPU"),
        cache.key("d1", (1, 3, 128, 128), {"A": "1"}, "openvino 1", "CPU"),
        cache.key("d1", (2, 3, 128, 128), {"A": "2"}, "openvino 1", "CPU"),
        cache.key("d1", (2, 3, 128, 128), {"A": "1"}, "openvino 2", "CPU"),
    }
    assert base not in others and len(others) == 4


def test_a_damaged_entry_is_compiled_again_and_replaced(tmp_path):
    cache = CompiledCache(tmp_path)
    load(cache, "k1")
    (tmp_path / "k1.blob").write_bytes(b"garbage")
    network, calls = load(cache, "k1")
    assert calls == ["compile"] and network.payload == b"NET1"
    assert (tmp_path / "k1.blob").read_bytes() == b"NET1"


def test_a_link_in_place_of_an_entry_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"NET-planted")
    cache_dir = tmp_path / "c"
    cache_dir.mkdir(mode=0o700)
    (cache_dir / "k1.blob").symlink_to(elsewhere)
    network, calls = load(CompiledCache(cache_dir), "k1")
    assert calls == ["compile"] and network.payload == b"NET1"
    assert elsewhere.read_bytes() == b"NET-planted"  # the link was replaced, not written through
    assert not (cache_dir / "k1.blob").is_symlink()


@pytest.mark.parametrize("why", ["group-writable", "world-writable", "a link", "another user's"])
def test_a_directory_others_could_write_is_neither_read_nor_written(tmp_path, why, caplog):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    load(CompiledCache(real), "k1", payload=b"NET-old")  # an entry is there to be read
    if why == "a link":
        directory = tmp_path / "link"
        directory.symlink_to(real, target_is_directory=True)
    elif why == "another user's":
        if os.getuid() != 0:
            pytest.skip("only root can give a directory to another user")
        directory = real
        os.chown(real, 65534, 65534)
    else:
        directory = real
        os.chmod(real, 0o770 if why == "group-writable" else 0o702)
    cache = CompiledCache(directory)
    network, calls = load(cache, "k1", payload=b"NET-new")
    assert calls == ["compile"] and network.payload == b"NET-new"
    assert (real / "k1.blob").read_bytes() == b"NET-old"  # nothing written either
    assert "compiled-network cache" in caplog.text


def test_an_entry_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    import faceledger.models.compiled_cache as module

    cache = CompiledCache(tmp_path)
    load(cache, "k1", payload=b"NET" + b"x" * 100)
    monkeypatch.setattr(module, "MAX_ENTRY_BYTES", 50)
    _, calls = load(cache, "k1")
    assert calls == ["compile"]


def test_the_least_recently_used_entries_beyond_the_limit_are_removed(tmp_path):
    cache = CompiledCache(tmp_path, max_entries=2)
    for i, key in enumerate(["a", "b"]):
        load(cache, key)
        os.utime(tmp_path / f"{key}.blob", (1000 + i, 1000 + i))
    load(cache, "a")  # used again: now the newest of the two
    stale = tmp_path / ".left-by-a-killed-writer.part"
    stale.write_bytes(b"x")
    os.utime(stale, (1000, 1000))
    load(cache, "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.blob", "c.blob"]


def test_a_disk_that_refuses_the_write_still_gives_the_network(tmp_path, monkeypatch):
    import errno
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    network, calls = load(CompiledCache(tmp_path), "k1")
    assert calls == ["compile"] and network.payload == b"NET1"
    assert list(tmp_path.iterdir()) == []
