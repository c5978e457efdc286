"""Numba kernels of the profiling database and of read classification.

Twins in tests/naive.py (``# --- taxonomy and classification ---``). Taxa are node indices of a
:class:`~microbiome.taxonomy.Taxonomy` (int32, ``-1`` = no taxon / unclassified); the tree is
passed as its ``parents`` and ``depth`` arrays (int32).

The database table is the sorted array ``hashes`` (uint64) of the seeded hashes
``fmix64(minimizer ^ mix)`` of the reference minimizers, the node of each (``nodes``, int32)
and ``buckets`` (int64, ``2**b + 1``): ``buckets[j]`` is the first position whose hash has top
``b`` bits ``>= j``, so a lookup scans one bucket of a few entries.

Integrity: the file's payload is cut into blocks of ``2**block_shift`` bytes, each with its
XXH64 digest (:func:`xxh64`). :func:`lookup_verified` checks a block of the table the first time
it reads from it (``state`` per block: 0 unchecked, 1 good, 2 corrupt), so a run reads and
hashes only the pages it uses, and no byte of the table reaches a result unchecked.
"""

from __future__ import annotations

import numba
import numpy as np

from microbiome.kmer._kernels import fmix64
from microbiome.taxonomy._kernels import is_ancestor, lca


@numba.njit(cache=True, nogil=True)
def reduce_runs(keys, nodes, owners, parents, depth, out_keys, out_nodes, out_owners):
    """Collapse runs of equal ``keys`` (sorted uint64) into one entry each.

    The entry's node is the LCA of the run's ``nodes`` (int32) and its owner (int32) the run's
    common owner (a genome index), or -1 if the run has several owners or one is -1 already.
    Returns the number of entries written to the ``out_*`` arrays (which may alias the inputs:
    entries are written at or before where they are read).
    """
    n = 0
    i = 0
    size = keys.shape[0]
    while i < size:
        key = keys[i]
        node = nodes[i]
        owner = owners[i]
        j = i + 1
        while j < size and keys[j] == key:
            node = lca(parents, depth, node, nodes[j])
            if owners[j] != owner:
                owner = -1
            j += 1
        out_keys[n] = key
        out_nodes[n] = node
        out_owners[n] = owner
        n += 1
        i = j
    return n


@numba.njit(cache=True, nogil=True)
def lookup(values, mix, hashes, nodes, buckets, shift, out):
    """Node of each minimizer value (uint64) in the table, -1 if absent, into ``out`` (int32).

    ``shift`` (uint64) is ``64 - b``. Returns the number of minimizers found.
    """
    found = 0
    for i in range(values.shape[0]):
        h = fmix64(values[i] ^ mix)
        b = h >> shift
        out[i] = -1
        for j in range(buckets[b], buckets[b + 1]):
            if hashes[j] >= h:
                if hashes[j] == h:
                    out[i] = nodes[j]
                    found += 1
                break
    return found


@numba.njit(cache=True, nogil=True)
def _xxh64_round(acc, word):
    acc = acc + word * np.uint64(0xC2B2AE3D27D4EB4F)
    acc = (acc << np.uint64(31)) | (acc >> np.uint64(33))
    return acc * np.uint64(0x9E3779B185EBCA87)


@numba.njit(cache=True, nogil=True)
def xxh64(words, start, stop, seed):
    """XXH64 (xxHash's 64-bit hash, ``seed`` uint64) of the bytes of ``words[start:stop]``.

    ``words`` is uint64 in little-endian byte order, so the input is a multiple of 8 bytes long
    (the 4-byte and 1-byte tail steps of XXH64 never occur). Equal to ``xxhash.xxh64_intdigest``
    of those bytes.
    """
    p1 = np.uint64(0x9E3779B185EBCA87)
    p2 = np.uint64(0xC2B2AE3D27D4EB4F)
    p3 = np.uint64(0x165667B19E3779F9)
    p4 = np.uint64(0x85EBCA77C2B2AE63)
    p5 = np.uint64(0x27D4EB2F165667C5)
    n = stop - start
    i = start
    if n >= 4:
        v1 = seed + p1 + p2
        v2 = seed + p2
        v3 = seed
        v4 = seed - p1
        while i + 4 <= stop:
            v1 = _xxh64_round(v1, words[i])
            v2 = _xxh64_round(v2, words[i + 1])
            v3 = _xxh64_round(v3, words[i + 2])
            v4 = _xxh64_round(v4, words[i + 3])
            i += 4
        h = (
            ((v1 << np.uint64(1)) | (v1 >> np.uint64(63)))
            + ((v2 << np.uint64(7)) | (v2 >> np.uint64(57)))
            + ((v3 << np.uint64(12)) | (v3 >> np.uint64(52)))
            + ((v4 << np.uint64(18)) | (v4 >> np.uint64(46)))
        )
        for v in (v1, v2, v3, v4):
            h = (h ^ _xxh64_round(np.uint64(0), v)) * p1 + p4
    else:
        h = seed + p5
    h += np.uint64(8 * n)
    while i < stop:
        h ^= _xxh64_round(np.uint64(0), words[i])
        h = ((h << np.uint64(27)) | (h >> np.uint64(37))) * p1 + p4
        i += 1
    h ^= h >> np.uint64(33)
    h *= p2
    h ^= h >> np.uint64(29)
    h *= p3
    h ^= h >> np.uint64(32)
    return h


@numba.njit(cache=True, nogil=True)
def check_block(payload, block, block_shift, digests, state):
    """Whether payload block ``block`` matches its digest, hashing it on first use.

    ``payload`` uint64 words, ``digests`` uint64 per block, ``state`` uint8 per block (0
    unchecked, 1 good, 2 corrupt; threads may check a block twice, with the same outcome).
    """
    if state[block] == 0:
        words = np.int64(1) << (block_shift - 3)
        start = block * words
        stop = min(start + words, payload.shape[0])
        if xxh64(payload, start, stop, np.uint64(0)) == digests[block]:
            state[block] = 1
        else:
            state[block] = 2
    return state[block] == 1


@numba.njit(cache=True, nogil=True)
def block_digests(payload, block_shift, out):
    """``out[i]`` (uint64) = XXH64 of block ``i`` of ``payload`` (uint64 words)."""
    words = np.int64(1) << (block_shift - 3)
    for block in range(out.shape[0]):
        start = block * words
        out[block] = xxh64(payload, start, min(start + words, payload.shape[0]), np.uint64(0))


@numba.njit(cache=True, nogil=True)
def check_blocks(payload, first, last, block_shift, digests, state):
    """Check blocks ``first:last``; returns the first corrupt one, or -1."""
    for block in range(first, last):
        if not check_block(payload, block, block_shift, digests, state):
            return block
    return -1


@numba.njit(cache=True, nogil=True)
def lookup_verified(
    values, mix, hashes, nodes, buckets, shift, out, payload, at, block_shift, digests, state
):
    """:func:`lookup`, checking each block of the table before its first read.

    ``at`` (int64) holds the byte offsets of ``hashes``, ``nodes`` and ``buckets`` in the
    payload. Returns the number of minimizers found, or ``-1 - block`` for the first corrupt
    block met (``out`` is then incomplete).
    """
    found = 0
    for i in range(values.shape[0]):
        h = fmix64(values[i] ^ mix)
        b = h >> shift
        out[i] = -1
        # state[block] == 1 first: the call (not inlined) only for a block not yet checked
        at_bucket = at[2] + 8 * np.int64(b)
        for block in range(at_bucket >> block_shift, ((at_bucket + 15) >> block_shift) + 1):
            if state[block] != 1 and not check_block(payload, block, block_shift, digests, state):
                return -1 - block
        lo = buckets[b]
        hi = buckets[b + 1]
        if hi > lo:  # the bucket's hashes: usually in one block
            for block in range(
                (at[0] + 8 * lo) >> block_shift, ((at[0] + 8 * hi - 1) >> block_shift) + 1
            ):
                if state[block] != 1 and not check_block(
                    payload, block, block_shift, digests, state
                ):
                    return -1 - block
        for j in range(lo, hi):
            if hashes[j] >= h:
                if hashes[j] == h:
                    block = (at[1] + 4 * j) >> block_shift
                    if state[block] != 1 and not check_block(
                        payload, block, block_shift, digests, state
                    ):
                        return -1 - block
                    out[i] = nodes[j]
                    found += 1
                break
    return found


@numba.njit(cache=True, nogil=True)
def _tally(hits, start, stop, taxa, counts, m):
    """Add the hit nodes ``hits[start:stop]`` to the distinct list ``taxa[:m]`` / ``counts``;
    returns the new ``m``."""
    for i in range(start, stop):
        node = hits[i]
        if node < 0:
            continue
        found = False
        for j in range(m):
            if taxa[j] == node:
                counts[j] += 1
                found = True
                break
        if not found:
            taxa[m] = node
            counts[m] = 1
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def call_taxon(taxa, counts, m, total, parents, depth, confidence, min_hits):
    """Kraken 2's call from the ``m`` distinct hit nodes ``taxa`` (int32) and their hit counts.

    The score of a hit node is the sum of the hits of all hit nodes on its root-to-node path;
    the call is the node of highest score (the LCA of all nodes tied for it). Then, while the
    hits in the call's clade are fewer than ``confidence * total`` (``total`` = minimizers of
    the fragment), the call moves to its parent, and past the root to -1 (unclassified). A
    fragment with fewer than ``min_hits`` hits, or none, is unclassified (-1).
    """
    hit_total = 0
    for i in range(m):
        hit_total += counts[i]
    if m == 0 or hit_total < min_hits:
        return -1
    best = -1
    best_score = -1
    for i in range(m):
        score = 0
        for j in range(m):
            if is_ancestor(parents, depth, taxa[j], taxa[i]):
                score += counts[j]
        if score > best_score:
            best = taxa[i]
            best_score = score
        elif score == best_score:
            best = lca(parents, depth, best, taxa[i])
    call = best
    need = confidence * total
    while call >= 0:
        clade = 0
        for j in range(m):
            if is_ancestor(parents, depth, call, taxa[j]):
                clade += counts[j]
        if clade >= need:
            break
        call = -1 if call == 0 else parents[call]
    return call


@numba.njit(cache=True, nogil=True)
def classify_fragments(
    hits1, starts1, hits2, starts2, paired, parents, depth, confidence, min_hits, calls, totals
):
    """Call every fragment of a batch.

    ``hits1`` (int32) holds the node hit by each minimizer of mate 1 (-1 for none), fragment
    ``f``'s in ``hits1[starts1[f]:starts1[f + 1]]`` (``starts1`` int64, n + 1); the same for
    mate 2 when ``paired``. A pair is one fragment: the minimizers of both mates are pooled.
    Writes the call (int32 node or -1) to ``calls`` and the fragment's number of minimizers to
    ``totals`` (int64); returns the number of classified fragments.
    """
    n = starts1.shape[0] - 1
    width = 1
    for f in range(n):
        size = starts1[f + 1] - starts1[f]
        if paired:
            size += starts2[f + 1] - starts2[f]
        if size > width:
            width = size
    taxa = np.empty(width, dtype=np.int32)
    counts = np.empty(width, dtype=np.int64)
    classified = 0
    for f in range(n):
        m = _tally(hits1, starts1[f], starts1[f + 1], taxa, counts, 0)
        total = starts1[f + 1] - starts1[f]
        if paired:
            m = _tally(hits2, starts2[f], starts2[f + 1], taxa, counts, m)
            total += starts2[f + 1] - starts2[f]
        call = call_taxon(taxa, counts, m, total, parents, depth, confidence, min_hits)
        calls[f] = call
        totals[f] = total
        if call >= 0:
            classified += 1
    return classified


@numba.njit(cache=True, nogil=True)
def _put_int(out, p, value):
    """Write the decimal digits of ``value`` (>= 0) at ``out[p:]``; return the new position."""
    if value == 0:
        out[p] = 48
        return p + 1
    digits = 0
    v = value
    while v > 0:
        digits += 1
        v //= 10
    end = p + digits
    v = value
    for i in range(end - 1, p - 1, -1):
        out[i] = 48 + v % 10
        v //= 10
    return end


@numba.njit(cache=True, nogil=True)
def _put_hits(out, p, hits, start, stop, taxids):
    """Kraken's ``taxid:count`` runs of the minimizers ``start:stop`` (0 for no hit)."""
    i = start
    first = True
    while i < stop:
        j = i + 1
        while j < stop and hits[j] == hits[i]:
            j += 1
        if not first:
            out[p] = 32
            p += 1
        first = False
        p = _put_int(out, p, 0 if hits[i] < 0 else taxids[hits[i]])
        out[p] = 58  # ':'
        p = _put_int(out, p + 1, j - i)
        i = j
    return p


@numba.njit(cache=True, nogil=True)
def format_kraken(
    calls,
    taxids,
    names,
    name_offsets,
    offsets1,
    offsets2,
    paired,
    hits1,
    starts1,
    hits2,
    starts2,
    out,
):
    """Kraken-style per-read lines of one batch into ``out`` (uint8, large enough).

    ``C``/``U``, the read ID (the name up to the first blank, without ``/1`` or ``/2``), the
    taxid, the length (``l1|l2`` for pairs) and the hit runs (`` |:| `` between mates).
    Returns the number of bytes written.
    """
    p = 0
    for r in range(calls.shape[0]):
        call = calls[r]
        out[p] = 85 if call < 0 else 67  # 'U' / 'C'
        out[p + 1] = 9
        p += 2
        a = name_offsets[r]
        b = a
        while b < name_offsets[r + 1] and names[b] != 32 and names[b] != 9:
            b += 1
        if b - a >= 2 and names[b - 2] == 47 and (names[b - 1] == 49 or names[b - 1] == 50):
            b -= 2
        for i in range(a, b):
            out[p] = names[i]
            p += 1
        out[p] = 9
        p = _put_int(out, p + 1, 0 if call < 0 else taxids[call])
        out[p] = 9
        p = _put_int(out, p + 1, offsets1[r + 1] - offsets1[r])
        if paired:
            out[p] = 124  # '|'
            p = _put_int(out, p + 1, offsets2[r + 1] - offsets2[r])
        out[p] = 9
        p = _put_hits(out, p + 1, hits1, starts1[r], starts1[r + 1], taxids)
        if paired:
            for c in (32, 124, 58, 124, 32):  # ' |:| '
                out[p] = c
                p += 1
            p = _put_hits(out, p, hits2, starts2[r], starts2[r + 1], taxids)
        out[p] = 10
        p += 1
    return p
