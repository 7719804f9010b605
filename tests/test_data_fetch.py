"""Downloads (ualign.data.fetch, ualign fetch) against a local HTTP server on 127.0.0.1."""

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localserver import serve
from ualign.cli import main
from ualign.data import read_polis
from ualign.data.fetch import FetchError, cache_dir, download, fetch_polis, fetch_preflib

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/drip.soc"):          # one byte every 50 ms, for at most 10 s
            self.send_response(200)
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b"#")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
            return
        if self.path.endswith("/big.soc"):           # 5000 bytes, without Content-Length
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"#" * 5000)
            self.close_connection = True
            return
        if self.path.endswith("/truncated.soc"):     # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"# partial\n")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (random port) from a thread; yields (base URL, root)."""
    root = tmp_path / "www"
    root.mkdir()
    with serve(functools.partial(_Quiet, directory=str(root))) as url:
        yield url, root


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _put(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


SOC = "# FILE NAME: 00009-00000001.soc\n# DATA TYPE: soc\n3: 1,2\n1: 2,1\n"


def test_fetch_preflib_downloads_caches_and_forces(server, tmp_path):
    base, root = server
    src = _put(root, "agh/00009-00000001.soc", SOC)
    cache = tmp_path / "cache"
    path = fetch_preflib("00009-00000001.soc", cache=cache, base_url=base)
    assert path == cache / "preflib" / "agh" / "00009-00000001.soc"
    assert path.read_text() == SOC
    src.write_text(SOC + "# changed\n")
    assert fetch_preflib("00009-00000001.soc", cache=cache, base_url=base).read_text() == SOC
    assert fetch_preflib("00009-00000001.soc", cache=cache, base_url=base,
                         force=True).read_text().endswith("# changed\n")
    assert sorted(p.name for p in path.parent.iterdir()) == ["00009-00000001.soc"]


def test_fetch_preflib_abbrev_forms_and_env(server, tmp_path, monkeypatch):
    base, root = server
    _put(root, "mine/12345-00000001.soc", SOC)
    monkeypatch.setenv("UALIGN_CACHE", str(tmp_path / "envcache"))
    monkeypatch.setenv("UALIGN_PREFLIB_URL", base)
    assert cache_dir() == tmp_path / "envcache"
    p = fetch_preflib("mine/12345-00000001.soc")
    assert p == tmp_path / "envcache" / "preflib" / "mine" / "12345-00000001.soc"
    assert fetch_preflib("12345-00000001.soc", abbrev="mine") == p
    with pytest.raises(ValueError, match=r"unknown PrefLib series '12345'.*abbrev/"):
        fetch_preflib("12345-00000001.soc")
    with pytest.raises(ValueError, match="plain name"):
        fetch_preflib("agh/../../etc/passwd")
    with pytest.raises(ValueError, match="plain name"):
        fetch_polis("../x")


def test_http_404_and_truncated_leave_nothing(server, tmp_path):
    base, _ = server
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=r"HTTP 404.*agh/00009-00000002.soc"):
        fetch_preflib("00009-00000002.soc", cache=cache, base_url=base)
    with pytest.raises(FetchError, match="got 10 of 1000 bytes"):
        download(f"{base}/x/truncated.soc", cache / "t" / "truncated.soc")
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers == []


def test_unreachable_server(tmp_path, closed_port):
    with pytest.raises(FetchError, match="cannot reach"):
        fetch_preflib("00009-00000001.soc", cache=tmp_path, timeout=5,
                      base_url=f"http://127.0.0.1:{closed_port}")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_failed_fetch_leaves_no_empty_folder(server, tmp_path, closed_port):
    """HTTP 404 and a closed port: the cache holds no folder the failed fetch created; a folder
    that was there before stays, and a Polis conversation is not left half fetched."""
    base, root = server
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_preflib("00009-00000002.soc", cache=cache, base_url=base)
    assert not cache.exists()
    with pytest.raises(FetchError, match="cannot reach"):
        fetch_polis("conv", cache=cache, base_url=f"http://127.0.0.1:{closed_port}", timeout=5)
    assert not cache.exists()
    (cache / "preflib").mkdir(parents=True)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_preflib("00009-00000002.soc", cache=cache, base_url=base)
    assert [p.relative_to(cache).as_posix() for p in cache.rglob("*")] == ["preflib"]
    _put(root, "conv/comments.csv", "comment-id,moderated,comment-body\n1,1,Hello\n")
    with pytest.raises(FetchError, match="HTTP 404.*participants-votes.csv"):
        fetch_polis("conv", cache=cache, base_url=base)
    assert [p.relative_to(cache).as_posix() for p in cache.rglob("*")] == ["preflib"]
    assert main(["fetch", "preflib", "00009-00000002.soc", "--cache", str(tmp_path / "cli"),
                 "--base-url", base]) == 2
    assert not (tmp_path / "cli").exists()


@pytest.mark.skipif(not (DATA / "polis" / "brexit-consensus").is_dir(), reason="no shared data")
def test_fetch_polis_gives_a_readable_folder(server, tmp_path):
    base, root = server
    shutil.copytree(DATA / "polis" / "brexit-consensus", root / "brexit-consensus")
    folder = fetch_polis("brexit-consensus", cache=tmp_path / "c", base_url=base)
    assert folder == tmp_path / "c" / "polis" / "brexit-consensus"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["comments.csv", "participants-votes.csv", "summary.csv"])
    assert read_polis(folder) == read_polis(DATA / "polis" / "brexit-consensus")


def test_cli_fetch_prints_paths(server, tmp_path, capsys):
    base, root = server
    _put(root, "agh/00009-00000001.soc", SOC)
    for f in ("comments.csv", "participants-votes.csv", "summary.csv"):
        _put(root, f"conv.x/{f}", "a,b\n")
    cache = tmp_path / "cache"
    assert main(["fetch", "preflib", "00009-00000001.soc", "--cache", str(cache),
                 "--base-url", base]) == 0
    out = capsys.readouterr().out
    assert str(cache / "preflib" / "agh" / "00009-00000001.soc") in out
    assert main(["fetch", "polis", "conv.x", "--cache", str(cache), "--base-url", base]) == 0
    out = capsys.readouterr().out
    assert str(cache / "polis" / "conv.x") in out and "CC BY 4.0" in out
    assert main(["fetch", "polis", "missing.conv", "--cache", str(cache),
                 "--base-url", base]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and len(err.strip().splitlines()) == 1


def test_cli_fetch_error_in_a_subprocess(tmp_path, closed_port):
    env = dict(os.environ, UALIGN_CACHE=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", "import sys; from ualign.cli import main; "
                        "sys.exit(main())", "fetch", "preflib", "00009-00000001.soc",
                        "--base-url", f"http://127.0.0.1:{closed_port}", "--timeout", "5"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("ualign fetch: error: download failed: cannot reach")


# ---- issue 12, item 18: bounded size and time; summary.csv is optional
def test_downloads_are_bounded_in_size_and_time(server, tmp_path):
    base, root = server
    cache = tmp_path / "cache"
    _put(root, "x/sized.soc", "#" * 5000)                    # with Content-Length
    for name in ("sized.soc", "big.soc"):
        with pytest.raises(FetchError, match=rf"more than max_bytes=1000 .*x/{name}"):
            download(f"{base}/x/{name}", cache / name, max_bytes=1000)
    assert download(f"{base}/x/big.soc", cache / "big.soc", max_bytes=5000).stat().st_size \
        == 5000
    t0 = time.perf_counter()
    with pytest.raises(FetchError, match=r"took more than time_limit=1.0 s .*x/drip.soc"):
        download(f"{base}/x/drip.soc", cache / "drip.soc", timeout=5, time_limit=1.0)
    assert time.perf_counter() - t0 < 4
    assert sorted(p.name for p in cache.iterdir()) == ["big.soc"]


@pytest.mark.parametrize("bad", [dict(max_bytes=0), dict(time_limit=0.0),
                                 dict(time_limit=float("nan")), dict(timeout=-1.0)])
def test_download_options_checked(bad, tmp_path):
    with pytest.raises(ValueError, match=next(iter(bad))):
        download("http://127.0.0.1:9/x", tmp_path / "x", **bad)


def test_fetch_polis_without_summary(server, tmp_path):
    base, root = server
    _put(root, "conv/comments.csv", "comment-id,moderated,comment-body\n1,1,Hello\n2,1,Bye\n")
    _put(root, "conv/participants-votes.csv", "participant,1,2\n0,1,-1\n1,-1,1\n")
    with pytest.warns(UserWarning, match="summary.csv.*HTTP 404"):
        folder = fetch_polis("conv", cache=tmp_path / "c", base_url=base)
    assert sorted(p.name for p in folder.iterdir()) == ["comments.csv",
                                                        "participants-votes.csv"]
    assert read_polis(folder, min_votes=1).n_responses == 2
    (root / "conv" / "comments.csv").unlink()
    with pytest.raises(FetchError, match="HTTP 404"):          # a required file still fails
        fetch_polis("conv", cache=tmp_path / "d", base_url=base)


def test_stale_partial_files_of_killed_downloads_are_swept(server, tmp_path):
    base, root = server
    _put(root, "agh/00009-00000001.soc", SOC)
    folder = tmp_path / "c" / "preflib" / "agh"
    folder.mkdir(parents=True)
    stale = folder / ".00009-00000001.soc.kill1.part"      # left by a SIGKILLed download
    fresh = folder / ".00009-00000001.soc.live2.part"      # a download still running
    other = folder / ".other.soc.kill3.part"
    for p in (stale, fresh, other):
        p.write_text("#")
    old = time.time() - 2 * 900
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    fetch_preflib("00009-00000001.soc", cache=tmp_path / "c", base_url=base)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["00009-00000001.soc", fresh.name, other.name])


def test_downloaded_files_get_the_umask_mode(server, tmp_path):
    """Found by a re-check: downloads kept mkstemp's 0o600."""
    base, root = server
    _put(root, "agh/00009-00000001.soc", SOC)
    old = os.umask(0o022)
    try:
        path = fetch_preflib("00009-00000001.soc", cache=tmp_path / "c", base_url=base)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_cli_fetch_time_limit(server, tmp_path, capsys):
    """A re-check found no way to bound a slow-dripping download from the command line (900 s
    by default): ``--time-limit``."""
    base, _ = server
    t0 = time.perf_counter()
    code = main(["fetch", "preflib", "x/drip.soc", "--cache", str(tmp_path / "c"),
                 "--base-url", base, "--timeout", "5", "--time-limit", "1"])
    assert code == 2 and time.perf_counter() - t0 < 4
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]                  # after the progress bar's updates
    assert last.startswith("ualign fetch: error:") and "time_limit=1.0 s" in last, err
    assert "Traceback" not in err
