"""Numba kernels for parsing FASTQ chunks and checking mate names. Twins in tests/naive.py."""

from __future__ import annotations

import numba
import numpy as np

#: Error codes returned by :func:`parse_fastq`.
OK = 0
NO_AT = 1  # header line does not start with '@'
NO_PLUS = 2  # third line does not start with '+'
QUAL_LENGTH = 3  # quality and sequence lengths differ
TRUNCATED = 4  # the chunk ends inside a record
PLUS_NAME = 5  # the '+' line repeats a name that differs from the header

NL = np.uint8(10)
CR = np.uint8(13)


@numba.njit(cache=True, nogil=True)
def _line_end(buf, pos, n):
    """Index of the newline ending the line that starts at pos (n if none), and the content end
    (without a trailing carriage return)."""
    i = pos
    while i < n and buf[i] != NL:
        i += 1
    end = i
    if end > pos and buf[end - 1] == CR:
        end -= 1
    return i, end


@numba.njit(cache=True, nogil=True)
def _blank(buf, pos, n):
    """True if buf[pos:n] holds only whitespace (blank lines at the end of a file)."""
    for i in range(pos, n):
        c = buf[i]
        if c != 10 and c != 13 and c != 32 and c != 9:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def parse_fastq(buf, n, seq_out, qual_out, offsets, name_out, name_offsets):
    """Parse the 4-line FASTQ records in ``buf[:n]``.

    Outputs are preallocated: ``seq_out``/``qual_out`` (uint8, >= n // 2), ``offsets``
    (int64, >= records + 1), ``name_out`` (uint8, >= n), ``name_offsets`` (int64, like offsets).

    Returns ``(records, error_code, error_record, error_line_in_record, consumed)``: on error,
    ``records`` is the number of good records before the bad one; ``consumed`` is the end of the
    last complete record (with TRUNCATED, where the unfinished record starts, so that a reader
    can carry it over to the next chunk).
    """
    pos = 0
    r = 0
    s = 0
    nm = 0
    offsets[0] = 0
    name_offsets[0] = 0
    while pos < n:
        # header
        start = pos
        if buf[pos] != 64:  # '@'
            if _blank(buf, pos, n):
                break
            return r, NO_AT, r, 0, start
        nl, end = _line_end(buf, pos, n)
        if nl >= n:
            return r, TRUNCATED, r, 0, start
        name_start = pos + 1
        name_end = end
        for i in range(name_start, name_end):
            name_out[nm] = buf[i]
            nm += 1
        pos = nl + 1
        # sequence
        nl, end = _line_end(buf, pos, n)
        if nl >= n:
            return r, TRUNCATED, r, 1, start
        seq_start = pos
        seq_len = end - pos
        pos = nl + 1
        # plus line
        if pos >= n:
            return r, TRUNCATED, r, 2, start
        if buf[pos] != 43:  # '+'
            return r, NO_PLUS, r, 2, start
        nl, end = _line_end(buf, pos, n)
        if nl >= n:
            return r, TRUNCATED, r, 2, start
        if end > pos + 1:
            if end - pos - 1 != name_end - name_start:
                return r, PLUS_NAME, r, 2, start
            for i in range(end - pos - 1):
                if buf[pos + 1 + i] != buf[name_start + i]:
                    return r, PLUS_NAME, r, 2, start
        pos = nl + 1
        # qualities (the caller adds a newline to a file's last line if it lacks one)
        if pos >= n:
            return r, TRUNCATED, r, 3, start
        nl, end = _line_end(buf, pos, n)
        if nl >= n:
            return r, TRUNCATED, r, 3, start
        if end - pos != seq_len:
            return r, QUAL_LENGTH, r, 3, start
        for i in range(seq_len):
            seq_out[s + i] = buf[seq_start + i]
            qual_out[s + i] = buf[pos + i]
        s += seq_len
        pos = nl + 1
        r += 1
        offsets[r] = s
        name_offsets[r] = nm
    return r, OK, -1, 0, pos


@numba.njit(cache=True, nogil=True)
def read_id(names, start, end):
    """The one rule for a read's ID (pairing, interleave detection): the name
    ``names[start:end]`` up to the first space/tab, without a ``/1``, ``/2`` or ``/3`` mate
    suffix. Returns (end of the ID, the suffix's mate number or 0, end of the first word)."""
    i = start
    while i < end and names[i] != 32 and names[i] != 9:
        i += 1
    if i - start >= 2 and names[i - 2] == 47 and 49 <= names[i - 1] <= 51:  # '/1' '/2' '/3'
        return i - 2, names[i - 1] - 48, i
    return i, 0, i


@numba.njit(cache=True, nogil=True)
def first_unpaired(names1, offsets1, names2, offsets2):
    """Index of the first pair whose read IDs differ, or -1. Both batches have the same length."""
    for r in range(offsets1.shape[0] - 1):
        s1 = offsets1[r]
        e1 = read_id(names1, s1, offsets1[r + 1])[0]
        s2 = offsets2[r]
        e2 = read_id(names2, s2, offsets2[r + 1])[0]
        if e1 - s1 != e2 - s2:
            return r
        for i in range(e1 - s1):
            if names1[s1 + i] != names2[s2 + i]:
                return r
    return -1
