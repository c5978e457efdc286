# --- k-mer ---
# Slow, obviously correct twins of microbiome/kmer/_kernels.py: strings, dicts and Python ints.

_KMER_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_MASK64 = (1 << 64) - 1


def naive_encode(seq: str) -> list[int]:
    """2-bit codes, 4 for anything but A, C, G, T (either case)."""
    return ["ACGT".index(c) if c in "ACGT" else 4 for c in seq.upper()]


def naive_pack(kmer: str) -> int:
    """A k-mer string as an integer, first base highest (A=0 C=1 G=2 T=3)."""
    value = 0
    for c in kmer:
        value = value * 4 + "ACGT".index(c)
    return value


def naive_unpack(value: int, k: int) -> str:
    return "".join("ACGT"[(value >> (2 * (k - 1 - j))) & 3] for j in range(k))


def naive_canonical_string(kmer: str) -> str:
    """The lexicographically smaller of a k-mer and its reverse complement (uppercase)."""
    kmer = kmer.upper()
    rc = kmer.translate(_KMER_COMPLEMENT)[::-1]
    return min(kmer, rc)


def naive_canonical_kmers(seq: str, k: int) -> list[int]:
    """Canonical k-mers of one sequence in order, skipping windows with a non-ACGT base."""
    out = []
    for i in range(len(seq) - k + 1):
        window = seq[i : i + k].upper()
        if all(c in "ACGT" for c in window):
            out.append(naive_pack(naive_canonical_string(window)))
    return out


def naive_count(reads: list[str], k: int) -> dict[int, int]:
    """Canonical k-mer -> how many times it occurs in the reads."""
    counts: dict[int, int] = {}
    for read in reads:
        for kmer in naive_canonical_kmers(read, k):
            counts[kmer] = counts.get(kmer, 0) + 1
    return counts


def naive_histogram(counts: dict[int, int]) -> list[tuple[int, int]]:
    """(count, number of k-mers with that count), ascending."""
    histo: dict[int, int] = {}
    for c in counts.values():
        histo[c] = histo.get(c, 0) + 1
    return sorted(histo.items())


def naive_dump(counts: dict[int, int], k: int, min_count: int = 1) -> str:
    """KMER<TAB>COUNT lines sorted by k-mer."""
    return "".join(
        f"{naive_unpack(km, k)}\t{c}\n" for km, c in sorted(counts.items()) if c >= min_count
    )


def naive_fmix64(x: int) -> int:
    """MurmurHash3's fmix64 on Python ints."""
    x &= _MASK64
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _MASK64
    x ^= x >> 33
    return x


def naive_seed_mix(seed: int) -> int:
    return naive_fmix64(seed ^ 0x9E3779B97F4A7C15)


def naive_kmer_hash(kmer: int, seed: int) -> int:
    return naive_fmix64(kmer ^ naive_seed_mix(seed))


def naive_sketch(reads: list[str], k: int, scaled: int, seed: int) -> dict[int, int]:
    """FracMinHash: hash -> abundance for every canonical k-mer hash below 2**64 // scaled."""
    limit = min(2**64 // scaled, 2**64 - 1)
    out: dict[int, int] = {}
    for read in reads:
        for kmer in naive_canonical_kmers(read, k):
            h = naive_kmer_hash(kmer, seed)
            if h < limit:
                out[h] = out.get(h, 0) + 1
    return out


def naive_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def naive_containment(a: set, b: set) -> float:
    """Fraction of a's elements found in b."""
    return len(a & b) / len(a) if a else 0.0


def naive_minimizers(seq: str, l: int, w: int, seed: int) -> list[tuple[int, int]]:  # noqa: E741
    """(canonical l-mer, position) of the window minimizers of one sequence.

    Windows are w consecutive l-mers inside a stretch of valid (ACGT-only) l-mers; the minimizer
    has the smallest seeded hash, the rightmost on ties; consecutive windows sharing one
    minimizer report it once.
    """
    valid = []  # runs of consecutive valid l-mer positions
    run: list[tuple[int, int]] = []
    for i in range(len(seq) - l + 1):
        window = seq[i : i + l].upper()
        if all(c in "ACGT" for c in window):
            run.append((i, naive_pack(naive_canonical_string(window))))
        else:
            valid.append(run)
            run = []
    valid.append(run)
    out = []
    last = -1
    for run in valid:
        for s in range(len(run) - w + 1):
            window = run[s : s + w]
            pos, value = min(window, key=lambda pv: (naive_kmer_hash(pv[1], seed), -pv[0]))
            if pos != last:
                out.append((value, pos))
                last = pos
    return out


# --- reads and statistics ---
# Slow, obviously correct twins of microbiome/io/_kernels.py and microbiome/stats/_kernels.py.


def naive_parse_fastq(text: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(name, sequence, qualities) of each 4-line record; raises ValueError on a malformed one."""
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    records = []
    for i in range(0, len(lines), 4):
        chunk = lines[i : i + 4]
        if len(chunk) < 4:
            raise ValueError("truncated")
        head, seq, plus, qual = chunk
        if not head.startswith(b"@") or not plus.startswith(b"+") or len(seq) != len(qual):
            raise ValueError("malformed")
        if len(plus) > 1 and plus[1:] != head[1:]:
            raise ValueError("plus name")
        records.append((head[1:], seq, qual))
    return records


def naive_read_id(name: str) -> str:
    """A read's ID for pairing: up to the first whitespace, without a /1 /2 /3 suffix."""
    rid = name.split()[0] if name.split() else ""
    return rid[:-2] if rid[-2:] in ("/1", "/2", "/3") else rid


def naive_first_unpaired(names1: list[str], names2: list[str]) -> int:
    for i, (a, b) in enumerate(zip(names1, names2, strict=True)):
        if naive_read_id(a) != naive_read_id(b):
            return i
    return -1


def naive_read_stats(reads: list[tuple[str, str | None]]) -> dict:
    """Summary figures of (sequence, qualities) pairs, computed the plain way."""
    import statistics

    seqs = [s for s, _ in reads]
    lengths = sorted(len(s) for s in seqs)
    joined = "".join(seqs).upper()
    acgt = sum(joined.count(b) for b in "ACGT")
    gc = joined.count("G") + joined.count("C")
    bases = len(joined)
    half = len(lengths) // 2
    lower, upper = lengths[:half], lengths[len(lengths) - half :]
    n50, running = 0, 0
    for length in sorted(lengths, reverse=True):
        running += length
        if running >= bases / 2:
            n50 = length
            break
    out = {
        "reads": len(seqs),
        "bases": bases,
        "min_len": lengths[0],
        "max_len": lengths[-1],
        "mean_len": round(bases / len(seqs), 2),
        "median_len": float(statistics.median(lengths)),
        "q1_len": float(statistics.median(lower)) if lower else float(lengths[0]),
        "q3_len": float(statistics.median(upper)) if upper else float(lengths[0]),
        "n50": n50,
        "gc_percent": round(100 * gc / acgt, 2) if acgt else 0.0,
        "n_percent": round(100 * joined.count("N") / bases, 4),
    }
    if reads[0][1] is not None:
        phred = [ord(c) - 33 for _, q in reads for c in q]
        out["mean_quality"] = round(sum(phred) / len(phred), 2)
        out["q20_percent"] = round(100 * sum(p >= 20 for p in phred) / len(phred), 2)
        out["q30_percent"] = round(100 * sum(p >= 30 for p in phred) / len(phred), 2)
        out["read_means"] = [sum(ord(c) - 33 for c in q) // len(q) for _, q in reads if len(q)]
    return out


# --- quality control ---
# Twins of microbiome/qc/_kernels.py.


def naive_trimer_entropy(seq: str) -> float:
    """Normalised entropy of the ACGT trinucleotides of a read (1.0 with fewer than two)."""
    import math
    from collections import Counter

    seq = seq.upper()
    trimers = [seq[i : i + 3] for i in range(len(seq) - 2) if set(seq[i : i + 3]) <= set("ACGT")]
    n = len(trimers)
    if n < 2:
        return 1.0
    h = -sum(c / n * math.log2(c / n) for c in Counter(trimers).values())
    return h / math.log2(min(64, n))


def naive_trim_n_ends(seq: str) -> tuple[int, int]:
    """(start, end) of a read once leading and trailing N bases are cut."""
    start, end = 0, len(seq)
    while start < end and seq[start] in "Nn":
        start += 1
    while end > start and seq[end - 1] in "Nn":
        end -= 1
    return start, end


def naive_fnv1a(data: bytes) -> int:
    h = 14695981039346656037
    for byte in data:
        h = ((h ^ byte) * 1099511628211) % 2**64
    return h


def naive_fragment_hash(seq1: str, seq2: str | None) -> int:
    """FNV-1a of mate 1, or of mate 1 + a zero byte + mate 2."""
    data = seq1.encode() if seq2 is None else seq1.encode() + b"\0" + seq2.encode()
    return naive_fnv1a(data)


def naive_host_fraction(read: str, host_minimizers: set[int], l: int, w: int, seed: int):  # noqa: E741
    """(hits, total) of a read's minimizers in the set of the host's minimizer values."""
    values = [v for v, _ in naive_minimizers(read, l, w, seed)]
    return sum(v in host_minimizers for v in values), len(values)


# --- taxonomy and classification ---
# Twins of microbiome/taxonomy/_kernels.py and microbiome/profile/_kernels.py: taxids, dicts
# and sets instead of node-index arrays.


def naive_lineage(parent: dict[int, int], taxid: int) -> list[int]:
    """Taxids from ``taxid`` up to the root (the root is its own parent)."""
    path = [taxid]
    while parent[path[-1]] != path[-1]:
        path.append(parent[path[-1]])
    return path


def naive_lca(parent: dict[int, int], a: int, b: int) -> int:
    """The first ancestor of ``b`` (itself included) that is also an ancestor of ``a``."""
    up = set(naive_lineage(parent, a))
    for t in naive_lineage(parent, b):
        if t in up:
            return t
    raise AssertionError("no common ancestor")


def naive_minimizer_taxa(
    references: list[tuple[str, int]],
    parent: dict[int, int],
    l: int,  # noqa: E741
    w: int,
    seed: int = 0,
) -> dict[int, int]:
    """Minimizer value -> LCA of the taxids of every reference (sequence, taxid) holding it."""
    table: dict[int, int] = {}
    for seq, taxid in references:
        for value, _ in naive_minimizers(seq, l, w, seed):
            table[value] = naive_lca(parent, table[value], taxid) if value in table else taxid
    return table


def naive_call(
    hits: list[int], total: int, parent: dict[int, int], confidence: float = 0.0, min_hits: int = 0
) -> int:
    """Kraken 2's call from the hit taxids of a fragment's minimizers (0 = no hit).

    Score of a hit taxon = hits on its root-to-taxon path; the best score wins, ties go to the
    LCA of the tied taxa; then walk up while the clade's hits are below ``confidence * total``.
    Returns 0 for unclassified.
    """
    counts: dict[int, int] = {}
    for t in hits:
        if t:
            counts[t] = counts.get(t, 0) + 1
    if not counts or sum(counts.values()) < min_hits:
        return 0
    scores = {t: sum(counts.get(a, 0) for a in naive_lineage(parent, t)) for t in counts}
    best = max(scores.values())
    tied = [t for t, s in scores.items() if s == best]
    call = tied[0]
    for t in tied[1:]:
        call = naive_lca(parent, call, t)
    while True:
        clade = sum(c for t, c in counts.items() if call in naive_lineage(parent, t))
        if clade >= confidence * total:
            return call
        if parent[call] == call:
            return 0
        call = parent[call]


# --- abundance ---
# Slow, obviously correct twins of microbiome.profile.abundance on plain dicts (no numpy).


def naive_species_of(taxid: int, parent: dict[int, int], rank: dict[int, str]) -> int | None:
    """The species at or above ``taxid``, or None."""
    while True:
        if rank.get(taxid) == "species":
            return taxid
        if parent[taxid] == taxid:
            return None
        taxid = parent[taxid]


def naive_bracken(
    direct: dict[int, int],
    parent: dict[int, int],
    rank: dict[int, str],
    distribution: dict[int, dict[int, float]],
    min_reads: int = 10,
) -> dict[int, float]:
    """Bracken (Lu et al. 2017): c_s + sum_A r_A p(A|s) n_s / sum_s' p(A|s') n_s', with
    n_s = c_s / p(s|s); ``distribution`` keyed by species, destinations species or above."""
    clade: dict[int, float] = {}
    above: dict[int, float] = {}
    for taxid, reads in direct.items():
        if taxid == 0 or not reads:
            continue
        s = naive_species_of(taxid, parent, rank)
        if s is None:
            above[taxid] = above.get(taxid, 0) + reads
        else:
            clade[s] = clade.get(s, 0) + reads
    present = {s: c for s, c in clade.items() if c >= max(min_reads, 1)}
    prior = {}
    for s, c in present.items():
        own = distribution.get(s, {}).get(s, 0.0)
        prior[s] = c / own if own > 0 else c
    estimate = dict(present)
    for node, reads in above.items():
        weights = {s: distribution.get(s, {}).get(node, 0.0) * prior[s] for s in present}
        total = sum(weights.values())
        if total > 0:
            for s, w in weights.items():
                estimate[s] += reads * w / total
    return estimate


def naive_em(
    direct: dict[int, int],
    parent: dict[int, int],
    rank: dict[int, str],
    distribution: dict[int, dict[int, float]],
    min_reads: int = 10,
    iterations: int = 5000,
) -> dict[int, float]:
    """EM over present species, a fixed number of plain-Python iterations."""
    obs: dict[int, float] = {}
    for taxid, reads in direct.items():
        if taxid == 0 or not reads:
            continue
        s = naive_species_of(taxid, parent, rank)
        node = taxid if s is None else s
        obs[node] = obs.get(node, 0) + reads
    present = [n for n, r in obs.items() if rank.get(n) == "species" and r >= max(min_reads, 1)]

    def like(node: int, s: int) -> float:
        if s not in distribution:
            return 1.0 if node == s else 0.0
        return distribution[s].get(node, 0.0) / (1.0 - distribution[s].get(0, 0.0))

    explained = {n: r for n, r in obs.items() if any(like(n, s) > 0 for s in present)}
    total = sum(explained.values())
    pi = {s: 1.0 / len(present) for s in present}
    for _ in range(iterations):
        new = dict.fromkeys(present, 0.0)
        for n, r in explained.items():
            mix = sum(pi[s] * like(n, s) for s in present)
            for s in present:
                new[s] += r * pi[s] * like(n, s) / mix
        pi = {s: v / total for s, v in new.items()}
    return {s: total * p for s, p in pi.items()}


# --- per-read classification output ---


def naive_kraken_lines(calls, taxids, names, lengths, hits, starts) -> str:
    """Kraken-style per-read lines from plain lists: ``names[i]`` the read's header,
    ``lengths[m][i]``, ``hits[m]`` (node per minimizer, -1 none), ``starts[m]`` per mate m."""

    def runs(h, a, b):
        out = []
        i = a
        while i < b:
            j = i
            while j < b and h[j] == h[i]:
                j += 1
            out.append(f"{0 if h[i] < 0 else int(taxids[h[i]])}:{j - i}")
            i = j
        return " ".join(out)

    lines = []
    for i, call in enumerate(calls):
        rid = names[i].split()[0] if names[i].split() else ""
        rid = rid[:-2] if rid.endswith(("/1", "/2")) else rid
        taxid = 0 if call < 0 else int(taxids[call])
        length = "|".join(str(m[i]) for m in lengths)
        hit = " |:| ".join(runs(h, s[i], s[i + 1]) for h, s in zip(hits, starts, strict=True))
        lines.append(f"{'U' if call < 0 else 'C'}\t{rid}\t{taxid}\t{length}\t{hit}\n")
    return "".join(lines)
