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
