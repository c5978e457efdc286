"""Numba kernels of the k-mer engine. Each has a slow twin in tests/naive.py (``# --- k-mer ---``).

Kernels take numpy arrays of fixed dtype and scalars only; the planning (batch splitting, table
growth, file layout) happens in :mod:`microbiome.kmer.count` and friends.

Encoding: ``A=0, C=1, G=2, T=3`` (either case) through a 256-entry ``uint8`` lookup table where
every other byte maps to 4 (invalid: a k-mer covering it is skipped). A k-mer of length
``k <= 31`` is packed into the low ``2k`` bits of a ``uint64``, first base in the highest bits,
so integer order is lexicographic order of the strings. The canonical k-mer is the smaller of
the forward and reverse-complement codes.

Counting table layout (one table per partition). A k-mer's top ``2k - rbits`` bits select its
partition, its low ``rbits`` bits (the *remainder* ``r``) are stored in the partition's slot as
``(r << cbits) | count``; a zero word is an empty slot. Counts that would pass
``2**cbits - 1`` keep that value in the slot and carry the excess in the partition's overflow
table (pairs ``r + 1, excess`` in a flat ``uint64`` array). Open addressing with linear probing;
any capacity (below 2**32), home slot ``((fmix64(r) >> 32) * capacity) >> 32``, so a table can
grow by 1.5x rather than 2x.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

#: Byte -> 2-bit code (4 = not ACGT). Passed to the kernels as an argument.
ENCODE_TABLE = np.full(256, 4, dtype=np.uint8)
for _i, _c in enumerate(b"ACGT"):
    ENCODE_TABLE[_c] = _i
    ENCODE_TABLE[_c + 32] = _i  # lowercase
del _i, _c

#: 2-bit code -> uppercase ASCII.
DECODE_TABLE = np.frombuffer(b"ACGT", dtype=np.uint8).copy()

#: Status codes of :func:`table_insert`.
DONE = 0
TABLE_FULL = 1
OVERFLOW_FULL = 2

MAX_U32 = np.uint64(0xFFFFFFFF)
#: How many k-mers ahead :func:`table_insert` prefetches the home slot.
PREFETCH_DISTANCE = 32


def _prefetch_python(arr, idx):
    """Without the JIT (NUMBA_DISABLE_JIT=1, coverage runs) prefetching is a no-op."""


@intrinsic
def prefetch(typingctx, arr, idx):
    """``prefetch(arr, i)``: hint the CPU to load ``arr[i]``'s cache line for writing
    (``llvm.prefetch``); no effect on results. Hides memory latency of hash-table probes."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


if numba.config.DISABLE_JIT:
    prefetch = _prefetch_python  # noqa: F811


@numba.njit(numba.uint64(numba.uint64), cache=True, nogil=True)
def fmix64(x):
    """MurmurHash3's 64-bit finalizer: a bijection of uint64 with good avalanche."""
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@numba.njit(cache=True, nogil=True)
def hash_values(values, mix, out):
    """``out[i] = fmix64(values[i] ^ mix)`` (uint64): the seeded hash of packed k-mers."""
    for i in range(values.shape[0]):
        out[i] = fmix64(values[i] ^ mix)


@numba.njit(cache=True, nogil=True)
def home_slot(r, capacity):
    """Home slot of remainder ``r`` in a table of ``capacity`` slots (multiply-shift range)."""
    return np.int64(((fmix64(r) >> np.uint64(32)) * np.uint64(capacity)) >> np.uint64(32))


@numba.njit(cache=True, nogil=True)
def encode(seq, table, out):
    """``out[i] = table[seq[i]]`` (uint8 ASCII -> uint8 2-bit codes, 4 for non-ACGT)."""
    for i in range(seq.shape[0]):
        out[i] = table[seq[i]]


@numba.njit(cache=True, nogil=True)
def _masks(k):
    """(mask of 2k bits, shift placing a code at the first base) as uint64."""
    mask = (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)
    shift = np.uint64(2 * (k - 1))
    return mask, shift


@numba.njit(cache=True, nogil=True)
def canonical_kmers(seq, offsets, first, last, table, k, out):
    """Canonical k-mers of reads ``first:last`` of a batch, in read order.

    ``seq`` uint8 ASCII, ``offsets`` int64 (n + 1), ``out`` uint64 with room for every base.
    K-mers covering a non-ACGT byte are skipped. Returns the number written.
    """
    mask, shift = _masks(k)
    two = np.uint64(2)
    three = np.uint64(3)
    n = 0
    for r in range(first, last):
        fw = np.uint64(0)
        rc = np.uint64(0)
        valid = 0
        for i in range(offsets[r], offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                continue
            cc = np.uint64(c)
            fw = ((fw << two) | cc) & mask
            rc = (rc >> two) | ((three - cc) << shift)
            valid += 1
            if valid >= k:
                out[n] = fw if fw < rc else rc
                n += 1
    return n


@numba.njit(cache=True, nogil=True)
def partition_histogram(seq, offsets, first, last, table, k, rbits, hist):
    """Add to ``hist[p]`` (int64) the number of canonical k-mers of reads ``first:last`` whose
    partition ``kmer >> rbits`` is ``p``."""
    mask, shift = _masks(k)
    two = np.uint64(2)
    three = np.uint64(3)
    rb = np.uint64(rbits)
    for r in range(first, last):
        fw = np.uint64(0)
        rc = np.uint64(0)
        valid = 0
        for i in range(offsets[r], offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                continue
            cc = np.uint64(c)
            fw = ((fw << two) | cc) & mask
            rc = (rc >> two) | ((three - cc) << shift)
            valid += 1
            if valid >= k:
                km = fw if fw < rc else rc
                hist[km >> rb] += 1


@numba.njit(cache=True, nogil=True)
def partition_scatter(seq, offsets, first, last, table, k, rbits, cursor, out):
    """Write the canonical k-mers of reads ``first:last`` to ``out[cursor[p]]`` (advancing
    ``cursor[p]``, int64) where ``p = kmer >> rbits``: a radix partition of the batch."""
    mask, shift = _masks(k)
    two = np.uint64(2)
    three = np.uint64(3)
    rb = np.uint64(rbits)
    for r in range(first, last):
        fw = np.uint64(0)
        rc = np.uint64(0)
        valid = 0
        for i in range(offsets[r], offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                continue
            cc = np.uint64(c)
            fw = ((fw << two) | cc) & mask
            rc = (rc >> two) | ((three - cc) << shift)
            valid += 1
            if valid >= k:
                km = fw if fw < rc else rc
                p = km >> rb
                out[cursor[p]] = km
                cursor[p] += 1


@numba.njit(cache=True, nogil=True)
def _overflow_add(ovf, r, amount, ovf_filled, ovf_max):
    """Add ``amount`` to the excess count of remainder ``r``; returns (new filled, ok)."""
    cap_mask = np.uint64(ovf.shape[0] // 2 - 1)
    key = r + np.uint64(1)
    h = fmix64(key) & cap_mask
    while True:
        slot = 2 * np.int64(h)
        stored = ovf[slot]
        if stored == key:
            ovf[slot + 1] += amount
            return ovf_filled, True
        if stored == 0:
            if ovf_filled >= ovf_max:
                return ovf_filled, False
            ovf[slot] = key
            ovf[slot + 1] = amount
            return ovf_filled + 1, True
        h = (h + np.uint64(1)) & cap_mask


@numba.njit(cache=True, nogil=True)
def overflow_get(ovf, r):
    """Excess count stored for remainder ``r`` (0 if none)."""
    cap_mask = np.uint64(ovf.shape[0] // 2 - 1)
    key = r + np.uint64(1)
    h = fmix64(key) & cap_mask
    while True:
        slot = 2 * np.int64(h)
        stored = ovf[slot]
        if stored == key:
            return ovf[slot + 1]
        if stored == 0:
            return np.uint64(0)
        h = (h + np.uint64(1)) & cap_mask


@numba.njit(cache=True, nogil=True)
def table_insert(
    table, filled, max_fill, kmers, start, end, rbits, cbits, ovf, ovf_filled, ovf_max
):
    """Count ``kmers[start:end]`` (uint64, all of one partition) into ``table``.

    Stops before a k-mer that needs a new slot when ``filled == max_fill`` (status TABLE_FULL)
    or a new overflow entry when ``ovf_filled == ovf_max`` (OVERFLOW_FULL), so the caller can
    grow that table and call again from the returned position. Returns
    ``(next_position, filled, ovf_filled, status)``.
    """
    cap = table.shape[0]
    rmask = (np.uint64(1) << np.uint64(rbits)) - np.uint64(1)
    cb = np.uint64(cbits)
    maxc = (np.uint64(1) << cb) - np.uint64(1)
    one = np.uint64(1)
    ahead = min(start + PREFETCH_DISTANCE, end)
    for j in range(start, ahead):
        prefetch(table, home_slot(kmers[j] & rmask, cap))
    i = start
    while i < end:
        if ahead < end:
            prefetch(table, home_slot(kmers[ahead] & rmask, cap))
            ahead += 1
        r = kmers[i] & rmask
        h = home_slot(r, cap)
        while True:
            w = table[h]
            if w == 0:
                if filled >= max_fill:
                    return i, filled, ovf_filled, TABLE_FULL
                table[h] = (r << cb) | one
                filled += 1
                break
            if (w >> cb) == r:
                if (w & maxc) != maxc:
                    table[h] = w + one
                else:
                    ovf_filled, ok = _overflow_add(ovf, r, one, ovf_filled, ovf_max)
                    if not ok:
                        return i, filled, ovf_filled, OVERFLOW_FULL
                break
            h += 1
            if h == cap:
                h = 0
        i += 1
    return end, filled, ovf_filled, DONE


@numba.njit(cache=True, nogil=True)
def table_rehash(old, new, cbits):
    """Move every occupied slot of ``old`` into the empty, larger table ``new``."""
    cap = new.shape[0]
    cb = np.uint64(cbits)
    for j in range(old.shape[0]):
        w = old[j]
        if w != 0:
            h = home_slot(w >> cb, cap)
            while new[h] != 0:
                h += 1
                if h == cap:
                    h = 0
            new[h] = w


@numba.njit(cache=True, nogil=True)
def overflow_rehash(old, new):
    """Move the entries of overflow table ``old`` into the empty, larger ``new``."""
    filled = 0
    for j in range(0, old.shape[0], 2):
        if old[j] != 0:
            filled, _ = _overflow_add(new, old[j] - np.uint64(1), old[j + 1], filled, new.shape[0])
    return filled


@numba.njit(cache=True, nogil=True)
def radix_sort(words, low, bits):
    """Sort uint64 ``words`` in place by their bits ``low:low + bits`` (LSD radix sort with
    11-bit digits; stable, so words equal in those bits keep their order)."""
    n = words.shape[0]
    tmp = np.empty(n, dtype=np.uint64)
    counts = np.empty(1 << 11, dtype=np.int64)
    src = words
    dst = tmp
    done = 0
    passes = 0
    while done < bits:
        width = min(11, bits - done)
        shift = np.uint64(low + done)
        mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
        counts[:] = 0
        for i in range(n):
            counts[(src[i] >> shift) & mask] += 1
        total = 0
        for d in range(1 << width):
            c = counts[d]
            counts[d] = total
            total += c
        for i in range(n):
            d = (src[i] >> shift) & mask
            dst[counts[d]] = src[i]
            counts[d] += 1
        src, dst = dst, src
        done += width
        passes += 1
    if passes % 2 == 1:
        words[:] = tmp


#: Partitions with fewer occupied slots than this are sorted by np.sort, larger by radix_sort.
RADIX_MIN = 4096


@numba.njit(cache=True, nogil=True)
def table_extract(table, filled, cbits, ovf, prefix, rbits, min_count, out_kmers, out_counts):
    """Sorted k-mers of one partition with their counts (saturated at 2**32 - 1), keeping those
    counted at least ``min_count`` times. Returns how many were written to ``out_kmers``
    (uint64) and ``out_counts`` (uint32)."""
    words = np.empty(filled, dtype=np.uint64)
    n = 0
    for j in range(table.shape[0]):
        if table[j] != 0:
            words[n] = table[j]
            n += 1
    words = words[:n]
    if n >= RADIX_MIN:
        radix_sort(words, cbits, rbits)
    else:
        words.sort()
    cb = np.uint64(cbits)
    maxc = (np.uint64(1) << cb) - np.uint64(1)
    high = np.uint64(prefix) << np.uint64(rbits)
    mc = np.uint64(min_count)
    m = 0
    for j in range(n):
        w = words[j]
        r = w >> cb
        c = w & maxc
        if c == maxc:
            c += overflow_get(ovf, r)
        if c >= mc:
            out_kmers[m] = high | r
            out_counts[m] = c if c < MAX_U32 else MAX_U32
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def count_at_least(table, cbits, ovf, min_count):
    """Number of k-mers of one partition counted at least ``min_count`` times."""
    cb = np.uint64(cbits)
    maxc = (np.uint64(1) << cb) - np.uint64(1)
    mc = np.uint64(min_count)
    n = 0
    for j in range(table.shape[0]):
        w = table[j]
        if w != 0:
            c = w & maxc
            if c == maxc and c < mc:
                c += overflow_get(ovf, w >> cb)
            if c >= mc:
                n += 1
    return n


@numba.njit(cache=True, nogil=True)
def format_counts(kmers, counts, k, decode, out):
    """Write ``KMER<TAB>COUNT<LF>`` lines into ``out`` (uint8, >= len * (k + 12)); returns bytes."""
    pos = 0
    digits = np.empty(20, dtype=np.uint8)
    for i in range(kmers.shape[0]):
        km = kmers[i]
        for j in range(k):
            out[pos + j] = decode[(km >> np.uint64(2 * (k - 1 - j))) & np.uint64(3)]
        pos += k
        out[pos] = 9
        pos += 1
        c = np.uint64(counts[i])
        nd = 0
        while True:
            digits[nd] = 48 + c % np.uint64(10)
            nd += 1
            c //= np.uint64(10)
            if c == 0:
                break
        for j in range(nd):
            out[pos + j] = digits[nd - 1 - j]
        pos += nd
        out[pos] = 10
        pos += 1
    return pos


@numba.njit(cache=True, nogil=True)
def sketch_hashes(seq, offsets, first, last, table, k, seed_mix, max_hash, out):
    """FracMinHash: ``fmix64(kmer ^ seed_mix)`` of the canonical k-mers of reads ``first:last``
    that are below ``max_hash`` (kept in read order, with repeats). Returns (number written,
    number of valid k-mers seen)."""
    mask, shift = _masks(k)
    two = np.uint64(2)
    three = np.uint64(3)
    n = 0
    seen = 0
    for r in range(first, last):
        fw = np.uint64(0)
        rc = np.uint64(0)
        valid = 0
        for i in range(offsets[r], offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                continue
            cc = np.uint64(c)
            fw = ((fw << two) | cc) & mask
            rc = (rc >> two) | ((three - cc) << shift)
            valid += 1
            if valid >= k:
                seen += 1
                h = fmix64((fw if fw < rc else rc) ^ seed_mix)
                if h < max_hash:
                    out[n] = h
                    n += 1
    return n, seen


@numba.njit(cache=True, nogil=True)
def merge_counts(a_keys, a_counts, b_keys, b_counts, out_keys, out_counts):
    """Union of two sorted key sets, adding the counts of common keys. Returns the size."""
    i = 0
    j = 0
    n = 0
    while i < a_keys.shape[0] and j < b_keys.shape[0]:
        if a_keys[i] < b_keys[j]:
            out_keys[n] = a_keys[i]
            out_counts[n] = a_counts[i]
            i += 1
        elif b_keys[j] < a_keys[i]:
            out_keys[n] = b_keys[j]
            out_counts[n] = b_counts[j]
            j += 1
        else:
            out_keys[n] = a_keys[i]
            out_counts[n] = a_counts[i] + b_counts[j]
            i += 1
            j += 1
        n += 1
    while i < a_keys.shape[0]:
        out_keys[n] = a_keys[i]
        out_counts[n] = a_counts[i]
        i += 1
        n += 1
    while j < b_keys.shape[0]:
        out_keys[n] = b_keys[j]
        out_counts[n] = b_counts[j]
        j += 1
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def count_common(a, b):
    """Number of values present in both sorted, duplicate-free uint64 arrays."""
    i = 0
    j = 0
    n = 0
    while i < a.shape[0] and j < b.shape[0]:
        if a[i] < b[j]:
            i += 1
        elif b[j] < a[i]:
            j += 1
        else:
            n += 1
            i += 1
            j += 1
    return n


@numba.njit(cache=True, nogil=True)
def minimizers(seq, offsets, first, last, table, l, w, seed_mix, out_values, out_pos, out_reads):  # noqa: E741
    """Minimizers of reads ``first:last``: in every window of ``w`` consecutive valid canonical
    l-mers (an l-mer covering a non-ACGT byte breaks the run), the one of smallest
    ``fmix64(lmer ^ seed_mix)``, the rightmost on ties; each reported once per run of windows.

    Writes the canonical l-mer to ``out_values`` (uint64), its start in the read to ``out_pos``
    (int64) and the read index to ``out_reads`` (int64). Returns the number written.
    """
    mask, shift = _masks(l)
    two = np.uint64(2)
    three = np.uint64(3)
    # The last w l-mers of the run in a ring; the current minimum is re-found by a scan of the
    # ring only when it leaves the window (minimap2's scheme: cheaper than a monotone deque).
    ring_hash = np.empty(w, dtype=np.uint64)
    ring_val = np.empty(w, dtype=np.uint64)
    ring_pos = np.empty(w, dtype=np.int64)
    n = 0
    for r in range(first, last):
        fw = np.uint64(0)
        rc = np.uint64(0)
        valid = 0
        slot = -1
        best = -1  # ring slot of the current minimum, -1 when the run restarts
        last_pos = -1
        start = offsets[r]
        for i in range(start, offsets[r + 1]):
            c = table[seq[i]]
            if c > 3:
                valid = 0
                best = -1
                continue
            cc = np.uint64(c)
            fw = ((fw << two) | cc) & mask
            rc = (rc >> two) | ((three - cc) << shift)
            valid += 1
            if valid < l:
                continue
            v = fw if fw < rc else rc
            h = fmix64(v ^ seed_mix)
            pos = i - start - l + 1
            left = best >= 0 and ring_pos[best] <= pos - w  # before its slot is reused
            slot += 1
            if slot == w:
                slot = 0
            ring_hash[slot] = h
            ring_val[slot] = v
            ring_pos[slot] = pos
            if best < 0 or (not left and h <= ring_hash[best]):
                best = slot
            elif left:  # the ring now holds exactly the window: scan it
                best = slot
                for j in range(w):
                    hj = ring_hash[j]
                    if hj < ring_hash[best] or (
                        hj == ring_hash[best] and ring_pos[j] > ring_pos[best]
                    ):
                        best = j
            if valid >= l + w - 1 and ring_pos[best] != last_pos:
                out_values[n] = ring_val[best]
                out_pos[n] = ring_pos[best]
                out_reads[n] = r
                last_pos = ring_pos[best]
                n += 1
    return n
