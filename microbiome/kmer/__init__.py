"""K-mer engine: 2-bit encoding, canonical k-mers, minimizers, exact counting, FracMinHash sketches.

The numba kernels live in :mod:`microbiome.kmer._kernels`; this package exposes the functions
around them. See ``docs/kmer.md`` for the command line.
"""

from microbiome.kmer.count import CountSummary, KmerCounter, count_kmers
from microbiome.kmer.encoding import (
    MAX_K,
    Minimizers,
    batch_canonical_kmers,
    batch_minimizers,
    canonical_kmers,
    encode,
    kmer_to_string,
    string_to_kmer,
)
from microbiome.kmer.format import CountsFile, Sketch, read_sketch, write_sketch

__all__ = [
    "MAX_K",
    "CountSummary",
    "CountsFile",
    "KmerCounter",
    "Minimizers",
    "Sketch",
    "batch_canonical_kmers",
    "batch_minimizers",
    "canonical_kmers",
    "count_kmers",
    "encode",
    "kmer_to_string",
    "read_sketch",
    "string_to_kmer",
    "write_sketch",
]
