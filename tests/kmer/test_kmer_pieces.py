"""Long sequences are hashed in overlapping pieces: the union equals the whole's minimizers."""

from __future__ import annotations

import numpy as np
import pytest
from naive import naive_kmer_hash, naive_minimizers

from microbiome.kmer.encoding import hash_kmers, minimizer_hashes, sequence_pieces


@pytest.mark.parametrize(("l", "w", "piece"), [(31, 11, 500), (21, 5, 97), (15, 1, 64)])
def test_pieces_give_the_minimizers_of_the_whole(l, w, piece):  # noqa: E741
    rng = np.random.default_rng(l)
    seq = np.frombuffer(
        "".join(rng.choice(list("ACGTN" if w > 1 else "ACGT"), size=3000, p=None)).encode(),
        np.uint8,
    )
    whole = minimizer_hashes(seq, l, w, seed=3)
    parts = np.unique(
        np.concatenate(
            [minimizer_hashes(p, l, w, seed=3) for p in sequence_pieces(seq, l, w, piece)]
        )
    )
    assert parts.tolist() == whole.tolist()
    naive = {naive_kmer_hash(v, 3) for v, _ in naive_minimizers(seq.tobytes().decode(), l, w, 3)}
    assert set(whole.tolist()) == naive


def test_hash_kmers_matches_naive():
    values = np.array([0, 1, 2**62 - 1, 12345], dtype=np.uint64)
    assert hash_kmers(values, seed=7).tolist() == [naive_kmer_hash(int(v), 7) for v in values]
