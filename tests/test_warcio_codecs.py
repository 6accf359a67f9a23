"""Bodies a server sent as br or zstd, unasked, read back from their WARC records."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import brotli
import pytest
from backports import zstd
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.store import warcio_codecs
from tests.conftest import ROOT, VENV_BIN

PAGE = b"<html><body><p>A page its server compressed its own way.</p></body></html>"


def _warc(path: Path, body: bytes, encoding: str) -> Path:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        headers = StatusAndHeaders(
            "200 OK",
            [
                ("Content-Type", "text/html"),
                ("Content-Encoding", encoding),
                ("Content-Length", str(len(body))),
            ],
            protocol="HTTP/1.1",
        )
        record = writer.create_warc_record(
            "http://a.example/", "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
        )
        writer.write_record(record)
    return path


@pytest.mark.parametrize(("encoding", "compress"), [("br", brotli.compress), ("zstd", zstd.compress)])
def test_checked_with_the_decoders_and_read_back(tmp_path: Path, encoding: str, compress) -> None:  # type: ignore[no-untyped-def]
    path = _warc(tmp_path / "page.warc.gz", compress(PAGE), encoding)
    ours = subprocess.run(
        [sys.executable, "-m", "archive.store.warcio_codecs", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert ours.returncode == 0, ours.stderr
    from tests.warcs import read_records

    (record,) = [r for r in read_records([path]) if r.type == "response"]
    assert record.decoded == PAGE


def test_plain_warcio_check_cannot_decode_br_here(tmp_path: Path) -> None:
    """Why the decoders exist: warcio's own brotli hook breaks on brotli 1.2. Should a warcio
    release mend it, this fails, and archive/store/warcio_codecs.py can go."""
    path = _warc(tmp_path / "page.warc.gz", brotli.compress(PAGE), "br")
    plain = subprocess.run([str(VENV_BIN / "warcio"), "check", str(path)], capture_output=True, text=True)
    assert plain.returncode != 0 and "unused_data" in plain.stderr


@pytest.mark.parametrize(
    ("decoder", "compress"),
    [(warcio_codecs.BrotliDecoder, brotli.compress), (warcio_codecs.ZstdDecoder, zstd.compress)],
)
def test_a_bomb_block_is_refused_not_inflated(decoder, compress) -> None:  # type: ignore[no-untyped-def]
    bomb = compress(b"\0" * (warcio_codecs.MAX_BLOCK_OUTPUT + (1 << 20)))
    assert len(bomb) < 64 * 1024  # one or a few of warcio's blocks
    with pytest.raises(ValueError, match="a bomb"):
        decoder().decompress(bomb)


def test_a_missing_file_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "archive.store.warcio_codecs", "check", "/nonexistent/a.warc.gz"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "No such file or directory: /nonexistent/a.warc.gz" in proc.stderr
