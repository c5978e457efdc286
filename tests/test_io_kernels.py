"""The FASTQ parser and the mate-name check against their naive twins."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fastq_text, random_records
from naive import naive_first_unpaired, naive_parse_fastq

from microbiome.io import _kernels
from microbiome.io.reads import parse_fastq_chunk


def parse(text: bytes):
    buf = np.frombuffer(text, dtype=np.uint8)
    n = len(text)
    lines = n // 4 + 2
    seq, qual = np.empty(n // 2 + 1, np.uint8), np.empty(n // 2 + 1, np.uint8)
    offsets, name_offsets = np.empty(lines, np.int64), np.empty(lines, np.int64)
    names = np.empty(n + 1, np.uint8)
    count, code, bad, _, _ = _kernels.parse_fastq(buf, n, seq, qual, offsets, names, name_offsets)
    if code != _kernels.OK:
        return code, bad
    return [
        (
            names[name_offsets[i] : name_offsets[i + 1]].tobytes(),
            seq[offsets[i] : offsets[i + 1]].tobytes(),
            qual[offsets[i] : offsets[i + 1]].tobytes(),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_parse_matches_naive_on_random_records(seed):
    rng = np.random.default_rng(seed)
    records = random_records(rng, 50, min_len=0, max_len=300, alphabet="ACGTNacgtn")
    text = fastq_text(records).encode()
    assert parse(text) == naive_parse_fastq(text)


def test_parse_handles_crlf_and_plus_name():
    text = b"@a x\r\nACGT\r\n+a x\r\nIIII\r\n@b\nAC\n+\nII\n"
    expected = [(b"a x", b"ACGT", b"IIII"), (b"b", b"AC", b"II")]
    assert parse(text) == naive_parse_fastq(text) == expected


def test_unfinished_last_record_is_carried_over_or_completed_at_the_end():
    text = b"@a\nACGT\n+\nIIII\n@b\nAC\n+\nII"  # the file's last line lacks its newline
    assert parse(text) == (_kernels.TRUNCATED, 1)  # the kernel alone: b is unfinished
    batch, used = parse_fastq_chunk(bytearray(text), len(text), path="x", final=False)
    assert len(batch) == 1 and used == text.index(b"@b")  # carried over to the next chunk
    batch, used = parse_fastq_chunk(bytearray(text), len(text), path="x", final=True)
    assert len(batch) == 2 and batch.name(1) == "b"


def test_parse_ignores_trailing_blank_lines():
    assert parse(b"@a\nAC\n+\nII\n\n\n") == [(b"a", b"AC", b"II")]


@pytest.mark.parametrize(
    ("text", "code", "bad"),
    [
        (b"@a\nAC\n+\nII\nb\nAC\n+\nII\n", _kernels.NO_AT, 1),
        (b"@a\nAC\n-\nII\n", _kernels.NO_PLUS, 0),
        (b"@a\nACG\n+\nII\n", _kernels.QUAL_LENGTH, 0),
        (b"@a\nAC\n+\nII\n@b\nAC\n", _kernels.TRUNCATED, 1),
        (b"@a\nAC\n+b\nII\n", _kernels.PLUS_NAME, 0),
    ],
)
def test_parse_reports_the_bad_record(text, code, bad):
    assert parse(text) == (code, bad)
    with pytest.raises(ValueError):
        naive_parse_fastq(text)


def _names(names):
    data = "".join(names).encode()
    offsets = np.zeros(len(names) + 1, np.int64)
    np.cumsum([len(n) for n in names], out=offsets[1:])
    return np.frombuffer(data, np.uint8), offsets


@pytest.mark.parametrize(
    ("names1", "names2"),
    [
        (["a/1", "b/1"], ["a/2", "b/2"]),
        (["a 1:N:0:ACGT", "b 1:N:0:ACGT"], ["a 2:N:0:ACGT", "b 2:N:0:ACGT"]),
        (["a/1 x", "b"], ["a/2 y", "c"]),
        (["a", "ab/1"], ["a", "a/2"]),
        (["x\tcomment"], ["x"]),
        (["/1"], ["/2"]),
        ([""], [""]),
    ],
)
def test_first_unpaired_matches_naive(names1, names2):
    got = _kernels.first_unpaired(*_names(names1), *_names(names2))
    assert got == naive_first_unpaired(names1, names2)


def test_first_unpaired_random():
    rng = np.random.default_rng(7)
    ids = [f"read{i}" for i in range(200)]
    other = list(ids)
    other[137] = "readX"
    names1 = [f"{i}/1" for i in ids]
    names2 = [f"{i}/2 2:N:0" for i in other]
    assert _kernels.first_unpaired(*_names(names1), *_names(names2)) == 137
    assert naive_first_unpaired(names1, names2) == 137
    rng.shuffle(names2)
    assert _kernels.first_unpaired(*_names(names1), *_names(names2)) == naive_first_unpaired(
        names1, names2
    )
