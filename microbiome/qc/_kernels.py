"""Numba kernels of the QC filters. Arrays and scalars in; twins in tests/naive.py."""

from __future__ import annotations

import numba
import numpy as np

from microbiome.kmer._kernels import fmix64


@numba.njit(cache=True, nogil=True)
def trimer_entropy(seq, offsets, table, out):
    """Normalised Shannon entropy of the trinucleotides of each read.

    ``table`` maps ASCII to 2-bit codes (4 for non-ACGT). For read ``r`` with ``n`` valid
    trinucleotides (none spanning a non-ACGT base), ``out[r] = H / log2(min(64, n))`` where ``H``
    is the entropy in bits of their frequencies: 0 for a homopolymer, about 0.17 for a
    dinucleotide repeat, above 0.85 for ordinary genomic sequence. Reads with fewer than two
    trinucleotides get 1.0 (complexity cannot be judged; the length filter deals with them).
    """
    counts = np.zeros(64, dtype=np.int64)
    for r in range(offsets.shape[0] - 1):
        counts[:] = 0
        n = 0
        code = 0
        valid = 0
        for i in range(offsets[r], offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                continue
            code = ((code << 2) | c) & 63
            valid += 1
            if valid >= 3:
                counts[code] += 1
                n += 1
        if n < 2:
            out[r] = 1.0
            continue
        h = 0.0
        for j in range(64):
            if counts[j] > 0:
                p = counts[j] / n
                h -= p * np.log2(p)
        out[r] = h / np.log2(min(64, n))


@numba.njit(cache=True, nogil=True)
def count_n(seq, offsets, out):
    """Number of N (or n) bases of each read."""
    for r in range(offsets.shape[0] - 1):
        k = 0
        for i in range(offsets[r], offsets[r + 1]):
            if seq[i] == 78 or seq[i] == 110:
                k += 1
        out[r] = k


@numba.njit(cache=True, nogil=True)
def index_hits(values, reads, mix, hashes, buckets, shift, hits, totals):
    """Count, per read, its minimizers (``values``, of reads ``reads``) found in a hashed index.

    The index is the sorted array ``hashes`` of seeded hashes with ``buckets[b]`` the first
    position of bucket ``b = hash >> shift``; a lookup reads one bucket (a few entries).
    ``hits[r]`` and ``totals[r]`` are incremented.
    """
    for i in range(values.shape[0]):
        h = fmix64(values[i] ^ mix)
        b = h >> shift
        r = reads[i]
        totals[r] += 1
        for j in range(buckets[b], buckets[b + 1]):
            if hashes[j] >= h:
                if hashes[j] == h:
                    hits[r] += 1
                break


@numba.njit(cache=True, nogil=True)
def fragment_hashes(seq1, offsets1, seq2, offsets2, paired, out):
    """64-bit FNV-1a hash of each read, or of mate 1 + a zero byte + mate 2 if ``paired``."""
    for r in range(offsets1.shape[0] - 1):
        h = np.uint64(14695981039346656037)
        prime = np.uint64(1099511628211)
        for i in range(offsets1[r], offsets1[r + 1]):
            h = (h ^ np.uint64(seq1[i])) * prime
        if paired:
            h = (h ^ np.uint64(0)) * prime
            for i in range(offsets2[r], offsets2[r + 1]):
                h = (h ^ np.uint64(seq2[i])) * prime
        out[r] = h


@numba.njit(cache=True, nogil=True)
def format_fastq(names, name_offsets, seq, qual, offsets, keep, out):
    """Write the kept reads as FASTQ text into ``out`` (uint8, large enough); return its length."""
    p = 0
    for r in range(offsets.shape[0] - 1):
        if not keep[r]:
            continue
        out[p] = 64  # '@'
        p += 1
        for i in range(name_offsets[r], name_offsets[r + 1]):
            out[p] = names[i]
            p += 1
        out[p] = 10
        p += 1
        for i in range(offsets[r], offsets[r + 1]):
            out[p] = seq[i]
            p += 1
        out[p] = 10
        out[p + 1] = 43  # '+'
        out[p + 2] = 10
        p += 3
        for i in range(offsets[r], offsets[r + 1]):
            out[p] = qual[i]
            p += 1
        out[p] = 10
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def trim_n_ends(seq, offsets, lengths, starts, ends):
    """Bounds of each read after N trimming at both ends of its first ``lengths[r]`` bases.

    ``starts``/``ends`` receive absolute positions in ``seq``; returns the bases removed.
    """
    removed = 0
    for r in range(offsets.shape[0] - 1):
        a = offsets[r]
        b = offsets[r] + lengths[r]
        while a < b and (seq[a] == 78 or seq[a] == 110):
            a += 1
        while b > a and (seq[b - 1] == 78 or seq[b - 1] == 110):
            b -= 1
        removed += lengths[r] - (b - a)
        starts[r] = a
        ends[r] = b
    return removed


@numba.njit(cache=True, nogil=True)
def gather(seq, qual, starts, ends, keep, seq_out, qual_out, offsets_out):
    """Copy ``seq[starts[r]:ends[r]]`` (and qualities) of the kept reads, packed.

    ``offsets_out`` gets one entry per kept read plus one; returns the number of kept reads.
    """
    p = 0
    k = 0
    offsets_out[0] = 0
    for r in range(starts.shape[0]):
        if not keep[r]:
            continue
        for i in range(starts[r], ends[r]):
            seq_out[p] = seq[i]
            qual_out[p] = qual[i]
            p += 1
        k += 1
        offsets_out[k] = p
    return k


@numba.njit(cache=True, nogil=True)
def gather_names(names, name_offsets, keep, names_out, offsets_out):
    """Copy the names of the kept reads, packed; returns the number of kept reads."""
    p = 0
    k = 0
    offsets_out[0] = 0
    for r in range(name_offsets.shape[0] - 1):
        if not keep[r]:
            continue
        for i in range(name_offsets[r], name_offsets[r + 1]):
            names_out[p] = names[i]
            p += 1
        k += 1
        offsets_out[k] = p
    return k
