"""Abundance estimation: Bracken's redistribution and the EM, against hand-computed values, the
naive twins in tests/naive.py, and simulated samples of known composition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from naive import naive_bracken, naive_em

from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.profile.abundance import (
    estimate_abundance,
    genome_windows,
    kmer_distribution,
    profile_from_classification,
    rank_index,
)
from microbiome.profile.classify import Classification
from microbiome.taxonomy import Taxonomy

# root 1 > Bacteria 2 > phylum 10 > class 20 > order 30 > family 40 > genus 50 > species 501
# (strain 5011 below it), 502; family 40 > genus 60 > species 601; Bacteria 2 > phylum 11 >
# genus 70 (no class, order, family) > species 701.
PARENT = {
    1: 1,
    2: 1,
    10: 2,
    20: 10,
    30: 20,
    40: 30,
    50: 40,
    501: 50,
    5011: 501,
    502: 50,
    60: 40,
    601: 60,
    11: 2,
    70: 11,
    701: 70,
}
RANK = {
    1: "no rank",
    2: "superkingdom",
    10: "phylum",
    20: "class",
    30: "order",
    40: "family",
    50: "genus",
    501: "species",
    5011: "strain",
    502: "species",
    60: "genus",
    601: "species",
    11: "phylum",
    70: "genus",
    701: "species",
}
NAME = {t: f"taxon {t}" for t in PARENT} | {1: "root", 2: "Bacteria", 501: "Alpha beta"}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.from_edges(PARENT, RANK, NAME)


def classification(direct: dict[int, int], unclassified: int = 0) -> Classification:
    counts = {t: c for t, c in direct.items() if c}
    counts[0] = unclassified
    return Classification(
        direct_counts=counts,
        total_reads=sum(direct.values()) + unclassified,
        unclassified=unclassified,
    )


# --- hand-computed ---------------------------------------------------------------------------

# Species 501 keeps half its reads, half stop at genus 50; 502 keeps 80 %, 20 % stop at 50.
HAND_DIST = {501: {501: 0.5, 50: 0.5}, 502: {502: 0.8, 50: 0.2}}
HAND_DIRECT = {501: 30, 502: 10, 50: 20}


def test_bracken_hand_computed(taxonomy):
    # n_501 = 30 / 0.5 = 60, n_502 = 10 / 0.8 = 12.5
    # P(501 | 50) = 0.5 * 60 / (0.5 * 60 + 0.2 * 12.5) = 30 / 32.5
    # 501: 30 + 20 * 30 / 32.5 = 630 / 13;  502: 10 + 20 * 2.5 / 32.5 = 150 / 13
    profile = estimate_abundance(classification(HAND_DIRECT, 7), taxonomy, HAND_DIST)
    assert profile.species_reads == pytest.approx({501: 630 / 13, 502: 150 / 13})
    assert profile.abundance["species"] == pytest.approx({501: 630 / 780, 502: 150 / 780})
    assert profile.rank_reads["genus"] == pytest.approx({50: 60.0})
    assert profile.undistributed_reads == 0
    assert profile.total_reads == 67 and profile.unclassified == 7
    assert naive_bracken(HAND_DIRECT, PARENT, RANK, HAND_DIST) == pytest.approx(
        profile.species_reads
    )


def test_em_hand_computed(taxonomy):
    # Log-likelihood in x = pi_501: 30 log(.5x) + 10 log(.8(1-x)) + 20 log(.5x + .2(1-x));
    # its derivative vanishes at 6 + 7x - 18x^2 = 0, x = (7 + sqrt(481)) / 36.
    x = (7 + math.sqrt(481)) / 36
    profile = estimate_abundance(classification(HAND_DIRECT), taxonomy, HAND_DIST, method="em")
    assert profile.species_reads == pytest.approx({501: 60 * x, 502: 60 * (1 - x)}, rel=1e-6)
    assert naive_em(HAND_DIRECT, PARENT, RANK, HAND_DIST) == pytest.approx(
        profile.species_reads, rel=1e-6
    )


def test_threshold_strains_and_undistributed(taxonomy):
    # 5011 is a strain of 501: its reads count for 501. 601 has 5 reads < 10: not reported, its
    # reads stay in genus 60 above species. Reads at phylum 11 reach no present species.
    direct = {501: 20, 5011: 10, 50: 20, 601: 5, 11: 4}
    profile = estimate_abundance(classification(direct), taxonomy, HAND_DIST)
    assert set(profile.species_reads) == {501}
    assert profile.species_reads[501] == pytest.approx(50.0)  # only species reaching genus 50
    assert profile.undistributed_reads == pytest.approx(9.0)
    assert profile.rank_reads["genus"] == pytest.approx({50: 50.0, 60: 5.0})
    assert profile.rank_reads["phylum"] == pytest.approx({10: 55.0, 11: 4.0})
    assert profile.abundance["phylum"] == pytest.approx({10: 1.0})
    assert naive_bracken(direct, PARENT, RANK, HAND_DIST) == pytest.approx(profile.species_reads)
    # min_reads=1 reports 601 too
    low = estimate_abundance(classification(direct), taxonomy, HAND_DIST, min_reads=1)
    assert set(low.species_reads) == {501, 601}


def test_cell_abundance_divides_by_genome_size(taxonomy):
    direct = {501: 60, 502: 40}
    dist = {501: {501: 1.0}, 502: {502: 1.0}}
    sizes = {501: 2_000_000, 502: 4_000_000}
    profile = estimate_abundance(
        classification(direct), taxonomy, dist, abundance="cell", genome_sizes=sizes
    )
    # (60/2) : (40/4) = 30 : 10
    assert profile.abundance["species"] == pytest.approx({501: 0.75, 502: 0.25})
    assert profile.abundance["genus"] == pytest.approx({50: 1.0})
    assert profile.species_reads == pytest.approx({501: 60.0, 502: 40.0})
    assert profile.abundance_type == "cell"


def test_profile_from_classification_is_clade_counts(taxonomy):
    direct = {501: 3, 5011: 2, 502: 4, 50: 1, 2: 7, 701: 1}
    profile = profile_from_classification(classification(direct, 5), taxonomy)
    assert profile.rank_reads["species"] == {501: 5.0, 502: 4.0, 701: 1.0}
    assert profile.rank_reads["genus"] == {50: 10.0, 70: 1.0}
    assert profile.rank_reads["class"] == {20: 10.0}  # 701's lineage has no class
    assert profile.rank_reads["superkingdom"] == {2: 18.0}
    assert profile.abundance is None and not profile.estimated
    assert profile.fractions("species") == pytest.approx({501: 0.5, 502: 0.4, 701: 0.1})


def test_rank_index_matches_at_rank(taxonomy):
    for rank in ("species", "genus", "class", "superkingdom"):
        index = rank_index(taxonomy, rank)
        for i, taxid in enumerate(taxonomy.taxids.tolist()):
            expected = taxonomy.at_rank(taxid, rank)
            got = None if index[i] < 0 else int(taxonomy.taxids[index[i]])
            assert got == expected


# --- simulated -------------------------------------------------------------------------------


def simulate(rng, composition, distribution, n_reads):
    """Draw each read's species from ``composition``, then where it is classified from the
    species' distribution; direct counts per node (0 = unclassified)."""
    species = list(composition)
    per_species = rng.multinomial(n_reads, [composition[s] for s in species])
    direct: dict[int, int] = {}
    for s, n in zip(species, per_species, strict=True):
        nodes = list(distribution[s])
        draws = rng.multinomial(n, [distribution[s][a] for a in nodes])
        for node, count in zip(nodes, draws, strict=True):
            direct[node] = direct.get(node, 0) + int(count)
    unclassified = direct.pop(0, 0)
    return direct, unclassified


SIM_DIST = {
    501: {501: 0.55, 50: 0.25, 40: 0.1, 2: 0.05, 0: 0.05},
    502: {502: 0.70, 50: 0.20, 40: 0.05, 0: 0.05},
    601: {601: 0.60, 60: 0.10, 40: 0.2, 1: 0.05, 0: 0.05},
    701: {701: 0.85, 70: 0.10, 2: 0.05},
}
SIM_COMPOSITION = {501: 0.4, 502: 0.1, 601: 0.3, 701: 0.2}


@pytest.mark.parametrize("method", ["bracken", "em"])
def test_simulated_sample_is_recovered(taxonomy, method):
    rng = np.random.default_rng(20240917)
    direct, unclassified = simulate(rng, SIM_COMPOSITION, SIM_DIST, 200_000)
    c = classification(direct, unclassified)
    profile = estimate_abundance(c, taxonomy, SIM_DIST, method=method)
    assert profile.abundance["species"] == pytest.approx(SIM_COMPOSITION, abs=0.01)
    # Without redistribution the species-level shares are biased (501 loses 45 % of its reads)
    naive = profile_from_classification(c, taxonomy).fractions("species")
    assert abs(naive[501] - SIM_COMPOSITION[501]) > 0.02
    # every classified read ends up at a species
    assert sum(profile.species_reads.values()) == pytest.approx(c.total_reads - unclassified)
    twin = (naive_bracken if method == "bracken" else naive_em)(direct, PARENT, RANK, SIM_DIST)
    assert profile.species_reads == pytest.approx(twin, rel=1e-5)


def test_em_moves_reads_misassigned_to_a_sibling(taxonomy):
    # 15 % of 501's reads land on its sibling 502 (a false positive there); EM takes them back.
    dist = {501: {501: 0.6, 502: 0.15, 50: 0.25}, 502: {502: 0.8, 50: 0.2}}
    composition = {501: 0.9, 502: 0.1}
    rng = np.random.default_rng(7)
    direct, unclassified = simulate(rng, composition, dist, 100_000)
    em = estimate_abundance(classification(direct, unclassified), taxonomy, dist, method="em")
    assert em.abundance["species"] == pytest.approx(composition, abs=0.005)
    bracken = estimate_abundance(classification(direct, unclassified), taxonomy, dist)
    assert bracken.abundance["species"][502] > 0.2  # Bracken keeps the false positives


# --- k-mer distribution ------------------------------------------------------------------------


def test_kmer_distribution_from_a_classifier_callable(tmp_path):
    # The classifier calls a window species 501 if it starts with A, genus 50 if with C, else
    # unclassified. Windows of length 4 at steps of 1 over "ACGTACGT" start with A, C, G, T, A.
    def classify_windows(windows):
        counts: dict[int, int] = {}
        for w in windows:
            t = {"A": 501, "C": 50}.get(w[0], 0)
            counts[t] = counts.get(t, 0) + 1
        return Classification(
            direct_counts=counts, total_reads=len(windows), unclassified=counts.get(0, 0)
        )

    dist = kmer_distribution(
        {501: ["ACGTACGT"]}, classify_windows, read_length=4, step=1, batch_size=2
    )
    assert dist == {501: pytest.approx({501: 0.4, 50: 0.2, 0: 0.4})}
    assert list(genome_windows([b"ACGTAC"], 4, 2)) == ["ACGT", "GTAC"]
    with pytest.raises(ConfigError):
        kmer_distribution({501: ["ACGT"]}, classify_windows, read_length=0)
    with pytest.raises(InputError, match="no reference sequence"):
        kmer_distribution({501: [""]}, classify_windows, read_length=4)


# --- bad input and edge cases --------------------------------------------------------------------


def test_empty_sample_gives_an_empty_profile(taxonomy):
    empty = Classification(direct_counts={}, total_reads=0, unclassified=0)
    for method in ("bracken", "em"):
        profile = estimate_abundance(empty, taxonomy, HAND_DIST, method=method)
        assert profile.is_empty and profile.species_reads == {}
        assert all(v == {} for v in profile.abundance.values())
    assert profile_from_classification(empty, taxonomy).is_empty
    only_unclassified = classification({}, 12)
    assert estimate_abundance(only_unclassified, taxonomy, HAND_DIST).is_empty


def test_bad_input(taxonomy):
    c = classification(HAND_DIRECT)
    with pytest.raises(ConfigError, match="bracken, em"):
        estimate_abundance(c, taxonomy, HAND_DIST, method="magic")
    with pytest.raises(ConfigError, match="read, cell"):
        estimate_abundance(c, taxonomy, HAND_DIST, abundance="bases")
    with pytest.raises(ConfigError, match="genome sizes"):
        estimate_abundance(c, taxonomy, HAND_DIST, abundance="cell")
    with pytest.raises(InputError, match="no genome size"):
        estimate_abundance(c, taxonomy, HAND_DIST, abundance="cell", genome_sizes={501: 1e6})
    with pytest.raises(DatabaseError, match="not in the taxonomy"):
        estimate_abundance(c, taxonomy, {99999: {99999: 1.0}})
    with pytest.raises(DatabaseError, match="not a species"):
        estimate_abundance(c, taxonomy, {50: {50: 1.0}})
    with pytest.raises(InputError, match="not in the taxonomy"):
        estimate_abundance(classification({424242: 3}), taxonomy, HAND_DIST)
    bad_total = Classification(direct_counts={501: 3}, total_reads=10, unclassified=0)
    with pytest.raises(InputError, match="do not add up"):
        estimate_abundance(bad_total, taxonomy, HAND_DIST)
