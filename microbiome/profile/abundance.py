"""Taxonomic profiles and species abundance estimation (Bracken's method, or an EM over species).

A k-mer classifier such as Kraken 2 (or :mod:`microbiome.profile.classify`) stops a read at the
lowest taxon its k-mers agree on: reads of species with close relatives in the database stop at
the genus or above. Counting only reads classified *at* a species therefore underestimates those
species, and by different amounts for different species. This module turns a classification
(reads assigned directly to each taxon) into a :class:`Profile`:

* :func:`profile_from_classification` keeps the classification as it is: the reads of a taxon
  are the reads classified at it or below it (its *clade* reads), at every canonical rank.
* :func:`estimate_abundance` pushes the reads stopped above species down to species, using for
  each species the *k-mer distribution*: the fraction of its reads that the classifier assigns
  to the species itself and to each other taxon (see :func:`kmer_distribution`), with either

  - ``method="bracken"``: Bracken's Bayesian redistribution (Lu et al. 2017), or
  - ``method="em"``: the maximum-likelihood species proportions of a mixture whose components
    are the species' distributions, found by expectation-maximisation (as in Kallisto, Salmon or
    KMCP); it also moves reads wrongly assigned to a sibling species.

  The estimated reads can then be reported as read abundance or, divided by genome size, as
  cell (genome copy) abundance.

References
----------
.. [1] Lu J, Breitwieser FP, Thielen P, Salzberg SL (2017). Bracken: estimating species abundance
   in metagenomics data. PeerJ Computer Science 3:e104. https://doi.org/10.7717/peerj-cs.104
.. [2] Dempster AP, Laird NM, Rubin DB (1977). Maximum likelihood from incomplete data via the EM
   algorithm. J R Stat Soc B 39:1-38.
.. [3] Sun Z, Huang S, Zhang M, Zhu Q, Haiminen N, Carrieri AP, et al. (2021). Challenges in
   benchmarking metagenomic profilers. Nature Methods 18:618-626 (read versus cell abundance).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.ranks import CANONICAL_RANKS

if TYPE_CHECKING:
    from microbiome.profile.classify import Classification
    from microbiome.taxonomy import Taxonomy

log = logging.getLogger("microbiome")


METHODS = ("bracken", "em")
ABUNDANCE_TYPES = ("read", "cell")

#: Rank names that count as a canonical rank (NCBI renamed superkingdom to domain in 2025).
RANK_ALIASES = {"domain": "superkingdom"}

#: Species whose estimate falls below this many reads are dropped (EM shrinks absent ones to 0).
_NEGLIGIBLE_READS = 1e-6


@dataclass(frozen=True)
class Profile:
    """A taxonomic profile of one sample at the canonical ranks.

    Attributes
    ----------
    total_reads : int
        Reads (fragments) of the sample, classified or not.
    unclassified : int
        Reads the classifier left unclassified.
    species_reads : dict of int to float
        Reported species taxid -> reads: its clade reads (``method == "classification"``) or its
        estimated reads after redistribution.
    rank_reads : dict of str to dict of int to float
        For each canonical rank, taxid -> reads of that taxon. Above species these are the
        species reads of the taxon's species plus the reads that stayed at nodes within the taxon
        (classified there and not pushed down to a reported species).
    abundance : dict of str to dict of int to float, or None
        For each canonical rank, taxid -> estimated relative abundance (read or cell, see
        ``abundance_type``), the sum of the abundances of the taxon's species; the species
        abundances sum to 1. None for a profile that was not estimated.
    method : str
        ``"classification"`` (no estimation), ``"bracken"`` or ``"em"``.
    abundance_type : str or None
        ``"read"`` or ``"cell"`` for estimated profiles, else None.
    undistributed_reads : float
        Classified reads that reached no reported species: reads at nodes above species that no
        present species explains, and reads of species below the reporting threshold.
    min_reads : int
        The threshold used: species with fewer clade reads were not reported.
    classified_species_reads : float or None
        Reads the classifier put at a species or below (clade reads of every species, before
        any estimation or ``min_reads`` threshold); None when unknown.
    """

    total_reads: int
    unclassified: int
    species_reads: dict[int, float]
    rank_reads: dict[str, dict[int, float]]
    abundance: dict[str, dict[int, float]] | None = None
    method: str = "classification"
    abundance_type: str | None = None
    undistributed_reads: float = 0.0
    min_reads: int = 0
    ranks: tuple[str, ...] = field(default=CANONICAL_RANKS)
    classified_species_reads: float | None = None

    @property
    def classified(self) -> int:
        """Reads classified at any taxon."""
        return self.total_reads - self.unclassified

    @property
    def unclassified_fraction(self) -> float:
        """Share of all reads that the classifier left unclassified (0 without reads)."""
        return self.unclassified / self.total_reads if self.total_reads > 0 else 0.0

    def assigned_share(self, rank: str) -> float:
        """Share of all the sample's reads behind the relative abundances at ``rank``: the
        reads of the rank's taxa (of the reported species when estimated, whose abundances
        every rank sums) over all reads; 0 without reads.

        ``relative(rank)[t] * assigned_share(rank)`` is taxon ``t``'s share of all reads, and
        ``1 - assigned_share(rank)`` the share that no taxon of the rank holds: reads left
        unclassified, classified only above the rank, or (estimated) given to no species.
        """
        if self.total_reads <= 0:
            return 0.0
        basis = "species" if self.estimated else rank
        return min(sum(self._rank(basis).values()) / self.total_reads, 1.0)

    def unassigned_share(self, rank: str) -> float:
        """Share of all reads that the relative abundances at ``rank``, times
        :meth:`assigned_share`, do not hold (1 without reads at the rank; 0 without reads)."""
        if self.total_reads <= 0:
            return 0.0
        held = self.assigned_share(rank) * sum(self.relative(rank).values())
        return min(max(1.0 - held, 0.0), 1.0)

    @property
    def is_empty(self) -> bool:
        """True when no read was classified (for example a sample left empty after QC)."""
        return not any(self.rank_reads.get(rank) for rank in self.ranks)

    @property
    def estimated(self) -> bool:
        """True when abundances were estimated (Bracken or EM)."""
        return self.abundance is not None

    def fractions(self, rank: str) -> dict[int, float]:
        """Taxid -> share of the reads at ``rank``: ``reads / sum(reads at rank)``.

        Empty when no read reached the rank.
        """
        reads = self._rank(rank)
        total = sum(reads.values())
        if total <= 0:
            return {t: 0.0 for t in reads}
        return {t: r / total for t, r in reads.items()}

    def relative(self, rank: str) -> dict[int, float]:
        """The relative abundance at ``rank``: the estimated abundance if there is one, else the
        fraction of reads (:meth:`fractions`)."""
        self._rank(rank)
        if self.abundance is not None:
            return dict(self.abundance[rank])
        return self.fractions(rank)

    def _rank(self, rank: str) -> dict[int, float]:
        if rank not in self.rank_reads:
            raise ConfigError(f"rank {rank!r} is not one of {', '.join(self.ranks)}")
        return self.rank_reads[rank]


# --- classification -> arrays ----------------------------------------------------------------


def direct_counts_array(classification: Classification, taxonomy: Taxonomy) -> np.ndarray:
    """Reads assigned directly to each node of ``taxonomy``, unclassified reads left out.

    Parameters
    ----------
    classification : Classification
        ``direct_counts`` (taxid -> reads; key 0 = unclassified), ``total_reads`` and
        ``unclassified``.
    taxonomy : Taxonomy

    Returns
    -------
    numpy.ndarray, shape (len(taxonomy),), dtype float64

    Raises
    ------
    InputError
        For a taxid that is not in the taxonomy, a negative count, or counts that do not add up
        to ``total_reads``.
    """
    direct = np.zeros(len(taxonomy), dtype=np.float64)
    classified = 0
    for taxid, count in classification.direct_counts.items():
        taxid, count = int(taxid), int(count)
        if count < 0:
            raise InputError(f"negative read count {count} for taxid {taxid}")
        if taxid == 0:
            if count != classification.unclassified:
                raise InputError(
                    f"unclassified reads disagree: {count} under taxid 0 but "
                    f"{classification.unclassified} in total"
                )
            continue
        if taxid not in taxonomy:
            raise InputError(
                f"reads are assigned to taxid {taxid}, which is not in the taxonomy "
                "(classification and taxonomy of different databases?)"
            )
        direct[taxonomy.node(taxid)] += count
        classified += count
    if classification.unclassified < 0 or (
        classified + classification.unclassified != classification.total_reads
    ):
        raise InputError(
            f"read counts do not add up: {classified} classified + "
            f"{classification.unclassified} unclassified != {classification.total_reads} in total"
        )
    return direct


def rank_index(taxonomy: Taxonomy, rank: str) -> np.ndarray:
    """For each node, the index of its ancestor (or itself) of rank ``rank``, -1 if none.

    A ``domain`` counts as a ``superkingdom`` (:data:`RANK_ALIASES`).

    One pass over the nodes, which come after their parents.

    Returns
    -------
    numpy.ndarray, shape (len(taxonomy),), dtype int64
    """
    n = len(taxonomy)
    out = np.full(n, -1, dtype=np.int64)
    is_rank = np.fromiter(
        (RANK_ALIASES.get(r, r) == rank for r in taxonomy.ranks), dtype=bool, count=n
    )
    parents = taxonomy.parents
    # Breadth-first order: a node's parent is resolved before the node. Vectorise per depth.
    depth = taxonomy.depth
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
    for d in range(len(bounds) - 1):
        idx = order[bounds[d] : bounds[d + 1]]
        if d == 0:
            out[idx] = np.where(is_rank[idx], idx, -1)
        else:
            out[idx] = np.where(is_rank[idx], idx, out[parents[idx]])
    return out


def _aggregate(
    taxonomy: Taxonomy, mass: np.ndarray, rank: str, index: np.ndarray | None = None
) -> dict[int, float]:
    """Sum ``mass`` (per node) into each node's ancestor at ``rank``: taxid -> sum (no zeros)."""
    index = rank_index(taxonomy, rank) if index is None else index
    keep = (index >= 0) & (mass != 0)
    if not keep.any():
        return {}
    sums = np.bincount(index[keep], weights=mass[keep], minlength=len(taxonomy))
    nodes = np.flatnonzero(sums)
    return {int(taxonomy.taxids[i]): float(sums[i]) for i in nodes}


def profile_from_classification(
    classification: Classification, taxonomy: Taxonomy, *, min_reads: int = 0
) -> Profile:
    """The profile of a classification as it is, without redistribution.

    The reads of a taxon at rank :math:`R` are its clade reads: the reads classified at the taxon
    or at any taxon below it. Species with fewer than ``min_reads`` clade reads are not reported
    at the species rank (their reads still count for their genus and above).

    Parameters
    ----------
    classification : Classification
    taxonomy : Taxonomy
    min_reads : int, default 0

    Returns
    -------
    Profile
        ``method == "classification"``, ``abundance`` None.
    """
    direct = direct_counts_array(classification, taxonomy)
    rank_reads = {rank: _aggregate(taxonomy, direct, rank) for rank in CANONICAL_RANKS}
    at_species = float(sum(rank_reads["species"].values()))
    species = {t: r for t, r in rank_reads["species"].items() if r >= max(min_reads, 1)}
    dropped = at_species - sum(species.values())
    rank_reads["species"] = species
    return Profile(
        total_reads=int(classification.total_reads),
        unclassified=int(classification.unclassified),
        species_reads=dict(species),
        rank_reads=rank_reads,
        method="classification",
        undistributed_reads=float(dropped),
        min_reads=min_reads,
        classified_species_reads=at_species,
    )


# --- k-mer distribution ------------------------------------------------------------------------


def genome_windows(
    sequences: Iterable[str | bytes], read_length: int, step: int = 1
) -> Iterator[str]:
    """Every read-length window of each sequence, starting every ``step`` bases.

    Sequences shorter than ``read_length`` give one window: the whole sequence.
    """
    for seq in sequences:
        if isinstance(seq, bytes | bytearray):
            seq = seq.decode("ascii")
        if len(seq) <= read_length:
            if seq:
                yield seq
            continue
        for start in range(0, len(seq) - read_length + 1, step):
            yield seq[start : start + read_length]


def kmer_distribution(
    genomes: Mapping[int, Iterable[str | bytes]],
    classify_windows: Callable[[list[str]], Classification],
    *,
    read_length: int = 150,
    step: int = 1,
    batch_size: int = 10_000,
) -> dict[int, dict[int, float]]:
    """Where the classifier puts reads of each reference species: Bracken's k-mer distribution.

    Each reference sequence is cut into read-length windows starting every ``step`` bases (every
    base, as in ``bracken-build``, by default); the windows are classified with
    ``classify_windows`` in batches, and for species :math:`s` and taxon :math:`A`

    .. math:: p(A \\mid s) = \\frac{\\#\\{\\text{windows of } s \\text{ assigned to } A\\}}
                                   {\\#\\{\\text{windows of } s\\}}

    (key 0 holds the unclassified windows, so the fractions of a species sum to 1).

    Parameters
    ----------
    genomes : mapping of int to iterable of str or bytes
        Species taxid -> its reference sequences (one or several genomes).
    classify_windows : callable
        ``classify_windows(list_of_window_sequences) -> Classification``; called once per batch
        of at most ``batch_size`` windows, with the database whose distribution this is.
    read_length : int, default 150
        The read length of the samples (Bracken builds one distribution per read length).
    step : int, default 1
        Distance between window starts; larger values trade accuracy for speed.
    batch_size : int, default 10000

    Returns
    -------
    dict of int to dict of int to float
        ``{species_taxid: {assigned_taxid: fraction}}``.

    Raises
    ------
    ConfigError
        For a non-positive ``read_length``, ``step`` or ``batch_size``.
    InputError
        For a species without sequence, or a classification whose counts do not match its batch.

    References
    ----------
    Lu J, et al. (2017). Bracken: estimating species abundance in metagenomics data. PeerJ Comput
    Sci 3:e104 (section "Generating the k-mer distribution").
    """
    for name, value in (("read_length", read_length), ("step", step), ("batch_size", batch_size)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, not {value}")
    out: dict[int, dict[int, float]] = {}
    for species, sequences in genomes.items():
        counts: dict[int, int] = {}
        total = 0
        batch: list[str] = []
        for window in genome_windows(sequences, read_length, step):
            batch.append(window)
            if len(batch) >= batch_size:
                total += _classify_batch(classify_windows, batch, counts, species)
                batch = []
        if batch:
            total += _classify_batch(classify_windows, batch, counts, species)
        if total == 0:
            raise InputError(f"species {species} has no reference sequence")
        out[int(species)] = {taxid: count / total for taxid, count in sorted(counts.items())}
    return out


def _classify_batch(
    classify_windows: Callable[[list[str]], Classification],
    batch: list[str],
    counts: dict[int, int],
    species: int,
) -> int:
    """Classify one batch of windows, add its assignments to ``counts``; the batch size."""
    result = classify_windows(batch)
    direct = {int(t): int(c) for t, c in result.direct_counts.items() if int(c)}
    if 0 not in direct and int(result.unclassified):
        direct[0] = int(result.unclassified)
    got = sum(direct.values())
    if got != len(batch):
        raise InputError(
            f"classifier returned {got} assignments for {len(batch)} windows of species {species}"
        )
    for taxid, count in direct.items():
        counts[taxid] = counts.get(taxid, 0) + count
    return len(batch)


def estimate_abundance(
    classification: Classification,
    taxonomy: Taxonomy,
    kmer_distribution: Mapping[int, Mapping[int, float]],
    *,
    method: str = "bracken",
    abundance: str = "read",
    genome_sizes: Mapping[int, float] | None = None,
    min_reads: int = 10,
    max_iter: int = 1000,
    tol: float = 1e-9,
) -> Profile:
    """Estimate species reads by pushing reads classified above species down to species.

    Notation: :math:`c_s` is the clade count of species :math:`s` (reads classified at
    :math:`s` or at a strain below it), :math:`r_A` the reads classified directly at a taxon
    :math:`A` above species, and :math:`p(A \\mid s)` the k-mer distribution: the fraction of
    the reads of :math:`s` that the classifier assigns to :math:`A` (strains are merged into
    their species; several genomes of one species are averaged). A species is *present* when
    :math:`c_s \\ge` ``min_reads`` (Bracken's ``-t``, default 10); only present species receive
    reads.

    **Bracken** ([1]_, ``est_abundance.py``). The reads of :math:`s` in the sample are first
    estimated from its species-level reads and the share of its reads that stay at species,

    .. math:: \\hat n_s = c_s \\,/\\, p(s \\mid s)

    (:math:`p(s \\mid s) = 1` for a species without distribution or with
    :math:`p(s \\mid s) = 0`, as in Bracken). By Bayes' rule, a read
    classified at :math:`A` comes from :math:`s` with probability

    .. math:: P(s \\mid A) = \\frac{p(A \\mid s)\\, \\hat n_s}{\\sum_{s'} p(A \\mid s')\\,
              \\hat n_{s'}}

    over present species :math:`s'`, and the estimate is

    .. math:: \\tilde n_s = c_s + \\sum_{A} r_A\\, P(s \\mid A).

    Reads at a taxon that no present species reaches stay there (``undistributed_reads``).

    **EM** ([2]_). The classified reads are a mixture of the present species with unknown
    proportions :math:`\\pi_s`; a read of :math:`s` lands at node :math:`n` (a taxon above species,
    or a species node, strains merged) with probability
    :math:`L_{ns} = p(n \\mid s) / (1 - p(0 \\mid s))` (conditioned on being classified;
    :math:`L_{ss} = 1` for a species without distribution). Starting from uniform
    :math:`\\pi`, iterate

    .. math:: w_{ns} = \\frac{\\pi_s L_{ns}}{\\sum_{s'} \\pi_{s'} L_{ns'}}, \\qquad
              \\pi_s \\leftarrow \\frac{1}{R} \\sum_n r_n w_{ns}

    until :math:`\\max_s |\\Delta \\pi_s| <` ``tol``, where :math:`r_n` are the reads at node
    :math:`n` and :math:`R` the sum over nodes that some present species can explain. Then
    :math:`\\tilde n_s = R\\, \\pi_s`. Unlike Bracken, this also moves reads that the
    classifier put on a wrong species (present or below the threshold) when the distribution
    says it does so.

    **Abundance.** ``abundance="read"`` gives :math:`a_s = \\tilde n_s / \\sum_{s'} \\tilde
    n_{s'}`; ``abundance="cell"`` divides by genome size first,
    :math:`a_s = (\\tilde n_s / g_s) / \\sum_{s'} \\tilde n_{s'} / g_{s'}` (genome copies rather
    than sequenced bases, [3]_). Abundances at higher ranks are sums over species.

    Parameters
    ----------
    classification : Classification
        Direct read counts per taxid (key 0 unclassified), total and unclassified reads.
    taxonomy : Taxonomy
        The database's taxonomy.
    kmer_distribution : mapping of int to mapping of int to float
        ``{species_taxid: {assigned_taxid: fraction}}``, see :func:`kmer_distribution`; key 0
        of the inner mapping is the unclassified fraction.
    method : {"bracken", "em"}, default "bracken"
    abundance : {"read", "cell"}, default "read"
    genome_sizes : mapping of int to float, optional
        Species taxid -> genome size (bp); required for ``abundance="cell"``.
    min_reads : int, default 10
        Species with fewer clade reads are considered absent.
    max_iter : int, default 1000
        EM iterations at most.
    tol : float, default 1e-9
        EM convergence threshold on the proportions.

    Returns
    -------
    Profile
        With ``species_reads`` the estimates :math:`\\tilde n_s`, ``rank_reads`` their sums per
        taxon plus the undistributed reads within it, and ``abundance`` per rank.

    Raises
    ------
    ConfigError
        For an unknown method or abundance type, or ``abundance="cell"`` without genome sizes.
    InputError
        For a classification that does not fit the taxonomy, or a missing genome size.
    DatabaseError
        For a k-mer distribution naming taxa that are not in the taxonomy, or fractions outside
        [0, 1].

    References
    ----------
    .. [1] Lu J, Breitwieser FP, Thielen P, Salzberg SL (2017). Bracken: estimating species
       abundance in metagenomics data. PeerJ Comput Sci 3:e104. doi:10.7717/peerj-cs.104
    .. [2] Dempster AP, Laird NM, Rubin DB (1977). Maximum likelihood from incomplete data via
       the EM algorithm. J R Stat Soc B 39:1-38.
    .. [3] Sun Z, et al. (2021). Challenges in benchmarking metagenomic profilers. Nat Methods
       18:618-626.
    """
    if method not in METHODS:
        raise ConfigError(
            f"unknown abundance method {method!r}; choose one of {', '.join(METHODS)}"
        )
    if abundance not in ABUNDANCE_TYPES:
        raise ConfigError(
            f"unknown abundance type {abundance!r}; choose one of {', '.join(ABUNDANCE_TYPES)}"
        )
    if abundance == "cell" and genome_sizes is None:
        raise ConfigError("cell abundance needs genome sizes")
    if min_reads < 0:
        raise ConfigError(f"min_reads must be at least 0, not {min_reads}")

    direct = direct_counts_array(classification, taxonomy)
    species_idx = rank_index(taxonomy, "species")
    n = len(taxonomy)
    # Observations: reads at/below a species are merged into the species node.
    obs = np.zeros(n, dtype=np.float64)
    below = species_idx >= 0
    np.add.at(obs, species_idx[below], direct[below])
    obs[~below] += direct[~below]
    clade = obs  # for species nodes, obs is the clade count c_s
    distribution = _collapse_distribution(kmer_distribution, taxonomy, species_idx)

    is_species_node = np.zeros(n, dtype=bool)
    is_species_node[species_idx[below]] = True
    threshold = max(min_reads, 1)
    present = np.flatnonzero(is_species_node & (clade >= threshold))

    if method == "bracken":
        estimate, remainder = _bracken(obs, present, species_idx, distribution)
    else:
        estimate, remainder = _em(obs, present, distribution, max_iter=max_iter, tol=tol)

    # Negligible species (EM) give their reads back to their node.
    negligible = (estimate > 0) & (estimate < _NEGLIGIBLE_READS)
    remainder[negligible] += estimate[negligible]
    estimate[negligible] = 0.0

    species_reads = {int(taxonomy.taxids[i]): float(estimate[i]) for i in np.flatnonzero(estimate)}
    weights = estimate.copy()
    if abundance == "cell":
        missing = [t for t in species_reads if t not in genome_sizes]  # type: ignore[operator]
        if missing:
            raise InputError(
                f"no genome size for {len(missing)} species: "
                + ", ".join(map(str, sorted(missing)[:5]))
            )
        for i in np.flatnonzero(estimate):
            size = float(genome_sizes[int(taxonomy.taxids[i])])  # type: ignore[index]
            if not size > 0 or not math.isfinite(size):
                raise InputError(f"genome size of taxid {int(taxonomy.taxids[i])} is {size}")
            weights[i] = estimate[i] / size
    total_weight = weights.sum()
    if total_weight > 0:
        weights /= total_weight

    rank_reads: dict[str, dict[int, float]] = {}
    rank_abundance: dict[str, dict[int, float]] = {}
    all_mass = estimate + remainder
    for rank in CANONICAL_RANKS:
        index = species_idx if rank == "species" else rank_index(taxonomy, rank)
        mass = estimate if rank == "species" else all_mass
        rank_reads[rank] = _aggregate(taxonomy, mass, rank, index)
        rank_abundance[rank] = _aggregate(taxonomy, weights, rank, index)
    return Profile(
        total_reads=int(classification.total_reads),
        unclassified=int(classification.unclassified),
        species_reads=species_reads,
        rank_reads=rank_reads,
        abundance=rank_abundance,
        method=method,
        abundance_type=abundance,
        undistributed_reads=float(remainder.sum()),
        min_reads=min_reads,
        classified_species_reads=float(direct[below].sum()),
    )


def _collapse_distribution(
    kmer_distribution: Mapping[int, Mapping[int, float]],
    taxonomy: Taxonomy,
    species_idx: np.ndarray,
) -> dict[int, dict[int, float]]:
    """Node-indexed distribution: species node -> {node: fraction}, strains merged into their
    species (assigned taxa below a species count for the species; several genomes of one species
    are averaged). Node -1 holds the unclassified fraction."""
    sums: dict[int, dict[int, float]] = {}
    genomes: dict[int, int] = {}
    for key, fractions in kmer_distribution.items():
        if int(key) not in taxonomy:
            raise DatabaseError(f"k-mer distribution: taxid {key} is not in the taxonomy")
        s = int(species_idx[taxonomy.node(key)])
        if s < 0:
            raise DatabaseError(
                f"k-mer distribution: taxid {key} is not a species or below "
                f"(rank {taxonomy.rank(key)!r})"
            )
        row = sums.setdefault(s, {})
        genomes[s] = genomes.get(s, 0) + 1
        for assigned, fraction in fractions.items():
            fraction = float(fraction)
            if not 0.0 <= fraction <= 1.0 + 1e-9:
                raise DatabaseError(
                    f"k-mer distribution: fraction {fraction} of taxid {key} at {assigned} "
                    "is not in [0, 1]"
                )
            if int(assigned) == 0:
                node = -1
            else:
                if int(assigned) not in taxonomy:
                    raise DatabaseError(
                        f"k-mer distribution: taxid {assigned} (a destination of taxid {key}) "
                        "is not in the taxonomy"
                    )
                node = taxonomy.node(assigned)
                if species_idx[node] >= 0:
                    node = int(species_idx[node])
            row[node] = row.get(node, 0.0) + fraction
    return {s: {a: f / genomes[s] for a, f in row.items()} for s, row in sums.items()}


def _bracken(
    obs: np.ndarray,
    present: np.ndarray,
    species_idx: np.ndarray,
    distribution: dict[int, dict[int, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Bracken's redistribution; (estimate per node, undistributed remainder per node)."""
    n = obs.shape[0]
    estimate = np.zeros(n, dtype=np.float64)
    remainder = obs.copy()
    estimate[present] = obs[present]
    remainder[present] = 0.0
    # n_hat_s = c_s / p(s|s)
    prior = {}
    for s in present.tolist():
        own = distribution.get(s, {}).get(s, 0.0)
        prior[s] = obs[s] / own if own > 0 else obs[s]  # Bracken: p(s|s) = 1 when unknown
    # Which present species reach each node above species.
    reach: dict[int, list[tuple[int, float]]] = {}
    for s in present.tolist():
        for node, fraction in distribution.get(s, {}).items():
            if node >= 0 and species_idx[node] < 0 and fraction > 0:
                reach.setdefault(node, []).append((s, fraction * prior[s]))
    for node, contributions in reach.items():
        reads = obs[node]
        if reads <= 0:
            continue
        total = sum(weight for _, weight in contributions)
        if total <= 0:
            continue
        for s, weight in contributions:
            estimate[s] += reads * weight / total
        remainder[node] = 0.0
    return estimate, remainder


def _em(
    obs: np.ndarray,
    present: np.ndarray,
    distribution: dict[int, dict[int, float]],
    *,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """EM over present species; (estimate per node, unexplained remainder per node)."""
    n = obs.shape[0]
    estimate = np.zeros(n, dtype=np.float64)
    remainder = obs.copy()
    if present.size == 0:
        return estimate, remainder
    nodes = np.flatnonzero(obs > 0)
    col = {int(s): j for j, s in enumerate(present.tolist())}
    row = {int(v): i for i, v in enumerate(nodes.tolist())}
    like = np.zeros((nodes.size, present.size), dtype=np.float64)
    for s, j in col.items():
        dist = distribution.get(s)
        if dist is None:
            like[row[s], j] = 1.0
            continue
        classified = 1.0 - dist.get(-1, 0.0)
        if classified <= 0:
            continue
        for node, fraction in dist.items():
            if node >= 0 and node in row:
                like[row[node], j] = fraction / classified
    reads = obs[nodes]
    explained = like.sum(axis=1) > 0
    like, reads_x = like[explained], reads[explained]
    total = reads_x.sum()
    pi = np.full(present.size, 1.0 / present.size)
    for _ in range(max_iter):
        mix = like @ pi  # (nodes,)
        mix[mix <= 0] = 1.0  # every proportion reaching the node shrank to 0
        resp = like * pi / mix[:, None]
        new = (reads_x[:, None] * resp).sum(axis=0) / total
        delta = np.abs(new - pi).max()
        pi = new
        if delta < tol:
            break
    else:
        log.warning("abundance EM did not converge in %d iterations", max_iter)
    estimate[present] = total * pi
    remainder[nodes[explained]] = 0.0
    return estimate, remainder
