"""The header of the package's binary files (host index, profiling database).

Layout: an 8-byte magic, a little-endian uint32 length, a JSON header of that length (padded with
spaces so that the payload after it starts at a multiple of 8 bytes, ready for memory-mapped
numpy arrays), then the payload.
"""

from __future__ import annotations

import json
import os
import struct

from microbiome.errors import DatabaseError


def header_bytes(magic: bytes, header: dict) -> bytes:
    """The magic, length and JSON header, padded to a multiple of 8 bytes."""
    text = json.dumps(header, separators=(",", ":")).encode()
    pad = (-(len(magic) + 4 + len(text))) % 8
    return magic + struct.pack("<I", len(text) + pad) + text + b" " * pad


def read_header(
    path: str | os.PathLike, magic: bytes, *, what: str, build: str, version: int
) -> tuple[dict, int]:
    """(JSON header, payload offset) of a file written with :func:`header_bytes`.

    Raises DatabaseError, naming the file, if it is missing (saying which command builds it),
    is of another kind (bad magic), has a truncated or corrupt header, or a ``format_version``
    other than ``version``. ``what`` names the kind of file in messages ("host index").
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatabaseError(f"{what} not found (build it with `{build}`)", file=path)
    with open(path, "rb") as f:
        start = f.read(len(magic) + 4)
        if len(start) < len(magic) + 4 or start[: len(magic)] != magic:
            raise DatabaseError(f"not a {what} of microbiome (bad magic)", file=path)
        (size,) = struct.unpack("<I", start[len(magic) :])
        raw = f.read(size)
    if len(raw) < size:
        raise DatabaseError(f"{what} is truncated (header incomplete)", file=path)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"{what} header is corrupt", file=path) from exc
    if header.get("format_version") != version:
        raise DatabaseError(
            f"{what} format version {header.get('format_version')} is not supported "
            f"(expected {version}): rebuild it with `{build}`",
            file=path,
        )
    return header, len(magic) + 4 + size
