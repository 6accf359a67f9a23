"""Content-Encodings warcio cannot decode here, taught to it: brotli 1.2 and zstd.

A server may send ``br`` or ``zstd`` though citewatch asks for gzip and deflate only; the
record keeps the bytes as sent, and reading its payload back (analysis, ``warcio check``)
needs the decoder. warcio 1.8 expects brotli's old ``Decompressor.decompress``, gone in
brotli 1.2 (which Scrapy needs for its own bounded decoding), and knows no zstd. Each
decoder here bounds what one block may inflate to, as a bomb would otherwise fill memory in
a single call.
"""

from __future__ import annotations

from typing import Any

# What one block of compressed bytes (warcio reads 16 KiB at a time) may inflate to.
MAX_BLOCK_OUTPUT = 64 * 1024 * 1024
_STEP = 1024 * 1024


class BrotliDecoder:
    """brotli 1.2's ``Decompressor`` with the interface warcio's reader calls."""

    unused_data = None

    def __init__(self) -> None:
        import brotli

        self._decompressor = brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        """Everything ``data`` decodes to; ValueError past :data:`MAX_BLOCK_OUTPUT`.

        >>> import brotli
        >>> BrotliDecoder().decompress(brotli.compress(b"archived " * 3))
        b'archived archived archived '
        """
        out = [self._decompressor.process(data, output_buffer_limit=_STEP)]
        size = len(out[0])
        while not self._decompressor.is_finished() and not self._decompressor.can_accept_more_data():
            chunk = self._decompressor.process(b"", output_buffer_limit=_STEP)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BLOCK_OUTPUT:
                raise ValueError(f"a brotli block inflates past {MAX_BLOCK_OUTPUT} bytes (a bomb?)")
            out.append(chunk)
        return b"".join(out)


class ZstdDecoder:
    """zstd, for warcio, one frame after another (a body may hold several)."""

    def __init__(self) -> None:
        self._new()
        self.unused_data = b""

    def _new(self) -> None:
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python 3.14's; not in 3.11
        except ImportError:
            from backports import zstd
        self._decompressor: Any = zstd.ZstdDecompressor()

    def decompress(self, data: bytes) -> bytes:
        """
        >>> from backports import zstd
        >>> ZstdDecoder().decompress(zstd.compress(b"one ") + zstd.compress(b"two"))
        b'one two'
        """
        out, size = [], 0
        while data:
            chunk = self._decompressor.decompress(data, max_length=MAX_BLOCK_OUTPUT + 1 - size)
            size += len(chunk)
            if size > MAX_BLOCK_OUTPUT:
                raise ValueError(f"a zstd block inflates past {MAX_BLOCK_OUTPUT} bytes (a bomb?)")
            out.append(chunk)
            if not self._decompressor.eof:
                break
            data = self._decompressor.unused_data
            self._new()
        return b"".join(out)


def install() -> None:
    """Register the decoders with warcio's readers (once; idempotent)."""
    from warcio.bufferedreaders import BufferedReader

    BufferedReader.DECOMPRESSORS["br"] = BrotliDecoder
    BufferedReader.DECOMPRESSORS["zstd"] = ZstdDecoder


def main(argv: list[str] | None = None) -> int:
    """warcio's own command line (``check``, ``index``, ...) with these decoders installed."""
    import sys

    from warcio.cli import main as warcio_main

    install()
    try:
        warcio_main(sys.argv[1:] if argv is None else argv)
    except OSError as exc:  # a file named that is not there, or not readable
        print(f"warcio: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
