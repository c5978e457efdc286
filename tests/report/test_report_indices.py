"""The report's indices against independent references: the GMHI authors' own output, naive
Bray-Curtis and percentiles; the notable-taxa list and its citations."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microbiome.report.indices import (
    dysbiosis_scores,
    dysbiosis_threshold,
    gmhi,
    gmhi_species,
    normalise_name,
    notable_taxa,
    percentile,
)

GMHI = Path(__file__).resolve().parents[2] / "test_data" / "gmhi"


def test_gmhi_equals_the_authors_output():
    """Six samples of the GMHI authors' example profile (MetaPhlAn2 percentages) against the
    GMHI values their GMHI.R printed for them (test_data/gmhi, provenance in its README)."""
    table = pd.read_csv(GMHI / "gmhi_example.tsv", sep="\t", index_col=0)
    expected = pd.read_csv(GMHI / "gmhi_expected.tsv", sep="\t", index_col=0)["gmhi"]
    got = gmhi(table.T, table.index)
    np.testing.assert_allclose(got["gmhi"], expected.loc[got.index], atol=2e-6)
    assert got.loc["Sample12", "mh_present"] == 4
    # Eggerthella lenta at 3.2e-6 is below the presence threshold; the D16 species at 1.5e-5 not
    assert got.loc["Sample12", "mn_present"] == 1
    assert got.loc["Sample19", "mh_present"] == got.loc["Sample19", "mn_present"] == 0


def test_gmhi_lists_are_the_published_7_and_43():
    table = gmhi_species().table
    assert (table["group"] == "health_prevalent").sum() == 7
    assert (table["group"] == "health_scarce").sum() == 43
    assert table["metaphlan2_name"].is_unique
    assert table["metaphlan2_name"].str.startswith("s__").all()


def test_gmhi_matches_renamed_species_and_ignores_scale():
    """A profile with current names (Mediterraneibacter gnavus, [Clostridium] nexile) scores as
    one with the MetaPhlAn2 names, and counts score as proportions."""
    old = ["s__Ruminococcus_gnavus", "s__Clostridium_nexile", "s__Bifidobacterium_adolescentis",
           "s__Bacteroides_vulgatus"]  # fmt: skip
    new = ["Mediterraneibacter gnavus", "[Clostridium] nexile", "Bifidobacterium adolescentis",
           "Phocaeicola vulgatus"]  # fmt: skip
    values = pd.DataFrame([[10.0, 5.0, 20.0, 65.0], [0.0, 30.0, 1.0, 69.0]], index=["a", "b"])
    a = gmhi(values, old)
    b = gmhi(values * 1234, new)
    pd.testing.assert_series_equal(a["gmhi"], b["gmhi"])
    assert list(b["mn_present"]) == [2, 1] and list(b["mh_present"]) == [1, 1]
    # Naive: psi_MH = 1/7 * -p ln p; psi_MN = R/31 * sum -p ln p
    p = values.to_numpy() / 100
    h = lambda x: -(x * np.log(x)).sum() if np.all(x > 0) else -(x[x > 0] * np.log(x[x > 0])).sum()  # noqa: E731
    expect_a = np.log10((1 / 7 * h(p[0, [2]]) + 1e-5) / (2 / 31 * h(p[0, [0, 1]]) + 1e-5))
    assert a.loc["a", "gmhi"] == pytest.approx(expect_a, rel=1e-12)
    assert a["mh_matched"].iloc[0] == 1 and a["mn_matched"].iloc[0] == 2


def test_gmhi_renormalises_without_unclassified_and_viruses():
    names = ["s__Bifidobacterium_adolescentis", "s__Klebsiella_pneumoniae", "s__Escherichia_coli"]
    base = pd.DataFrame([[20.0, 10.0, 70.0]], index=["x"])
    extra = pd.DataFrame([[20.0, 10.0, 70.0, 50.0, 25.0]], index=["x"])
    with_noise = gmhi(
        extra, [*names, "s__Escherichia_unclassified", "s__Human_endogenous_retrovirus_K"]
    )
    assert with_noise["gmhi"].iloc[0] == pytest.approx(gmhi(base, names)["gmhi"].iloc[0])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("s__Clostridium_nexile", "clostridium nexile"),
        ("[Clostridium] nexile", "clostridium nexile"),
        ("Ruminococcus_B gnavus", "ruminococcus gnavus"),
        ("Faecalibacterium prausnitzii_C", "faecalibacterium prausnitzii"),
        ("s__Lachnospiraceae_bacterium_8_1_57FAA", "lachnospiraceae bacterium 8 1 57faa"),
        ("Lachnospiraceae bacterium 8_1_57FAA", "lachnospiraceae bacterium 8 1 57faa"),
    ],
)
def test_normalise_name(name, expected):
    assert normalise_name(name) == expected


def test_notable_taxa_have_references():
    table = notable_taxa().table
    assert set(table["category"]) == {"pathobiont", "beneficial"}
    assert (table["reference"].str.len() > 20).all() and (table["why"].str.len() > 10).all()
    assert set(table["rank"]) <= {"species", "genus"}


#: A DOI as Crossref registers them: the 10. prefix, a registrant code, a suffix without spaces.
DOI = re.compile(r"^10\.\d{4,9}/[-._;()/:A-Za-z0-9]+$")


def test_every_notable_taxon_cites_a_paper_with_a_well_formed_doi():
    table = notable_taxa().table
    assert "doi" in table.columns
    bad = [(t, d) for t, d in zip(table["taxon"], table["doi"], strict=True) if not DOI.match(d)]
    assert not bad, f"entries without a well-formed DOI: {bad}"
    # one paper, one DOI: entries citing the same reference give the same DOI
    assert table.groupby("reference")["doi"].nunique().max() == 1
    assert table.groupby("doi")["reference"].nunique().max() == 1


def naive_braycurtis(u, v):
    return sum(abs(a - b) for a, b in zip(u, v, strict=True)) / sum(u) / 2 if sum(u) else 0.0


def test_dysbiosis_score_is_the_median_bray_curtis_to_other_patients_references():
    rng = np.random.default_rng(3)
    props = pd.DataFrame(rng.dirichlet(np.ones(6), size=7), index=list("abcdefg"))
    patients = {"a": "p1", "b": "p1", "c": "p2", "d": "p3", "e": "p4", "f": "p5", "g": "p6"}
    reference = ["a", "b", "c", "d"]
    got = dysbiosis_scores(props, reference, patients)
    for sample in props.index:
        others = [r for r in reference if patients[r] != patients[sample]]
        # both rows sum to 1: Bray-Curtis = sum|u - v| / 2
        expected = np.median([naive_braycurtis(props.loc[sample], props.loc[r]) for r in others])
        assert got[sample] == pytest.approx(expected, rel=1e-12), sample
    # a's own patient's reference sample b is not used for a
    assert got["a"] == pytest.approx(
        np.median([naive_braycurtis(props.loc["a"], props.loc[r]) for r in "cd"])
    )
    cutoff = dysbiosis_threshold(got, reference, 0.9)
    assert cutoff == pytest.approx(np.quantile(got[reference], 0.9))


def test_dysbiosis_without_reference_is_nan():
    props = pd.DataFrame([[0.5, 0.5]], index=["a"])
    assert dysbiosis_scores(props, [], {"a": "p"}).isna().all()
    assert np.isnan(dysbiosis_threshold(pd.Series([0.2], index=["a"]), [], 0.9))


def test_percentile_counts_ties_as_half():
    ref = [1.0, 2.0, 2.0, 3.0, np.nan]
    for value in (0.5, 1.0, 2.0, 2.5, 3.0, 4.0):
        below = sum(r < value for r in ref[:4])
        equal = sum(r == value for r in ref[:4])
        assert percentile(ref, value) == pytest.approx(100 * (below + 0.5 * equal) / 4)
    assert np.isnan(percentile([], 1.0)) and np.isnan(percentile(ref, np.nan))
