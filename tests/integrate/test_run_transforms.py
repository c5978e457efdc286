"""run_integrate filters the taxa, then takes the CLR over the kept taxa only, for the harmonised
tables, the associations and the correlations alike; correlations over patient means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from skbio.stats.composition import clr as skbio_clr

from microbiome.integrate.run import Settings, run_integrate

COMMON = [f"common{i}" for i in range(5)]
RARE = [f"rare{i}" for i in range(30)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """24 samples of 20 patients (4 with two samples): 5 common taxa; 'dominant', present in
    one sample only (filtered out by prevalence) but 90 % of that sample; 30 rare taxa, each in
    2 samples (filtered out); 3 metabolites, m1 following common0."""
    rng = np.random.default_rng(17)
    n = 24
    samples = [f"S{i:02d}" for i in range(n)]
    patients = [f"P{i:02d}" for i in range(20)] + ["P00", "P01", "P02", "P03"]
    common = rng.poisson(rng.gamma(2.0, 300, size=(n, 5))) + 1
    dominant = np.zeros(n, dtype=int)
    dominant[3] = common[3].sum() * 9
    rare = np.zeros((n, 30), dtype=int)
    for j in range(30):  # in 2 of 24 samples each, below the 10 % prevalence
        rare[rng.choice(n, size=2, replace=False), j] = rng.integers(1, 4, size=2)
    taxa = pd.DataFrame(
        np.column_stack([common, dominant, rare]),
        index=pd.Index(samples, name="Sample"),
        columns=[*COMMON, "dominant", *RARE],
    )
    mtb = pd.DataFrame(
        np.exp(rng.normal(size=(n, 3))), index=taxa.index, columns=["m1", "m2", "m3"]
    )
    mtb["m1"] *= (taxa["common0"] / taxa[COMMON].sum(axis=1)).to_numpy() * 10
    meta = pd.DataFrame(
        {
            "Sample": samples,
            "Subject": patients,
            "group": ["A", "B"] * 12,
        }
    )
    d = tmp_path_factory.mktemp("clr_cohort")
    taxa.to_csv(d / "taxa.tsv", sep="\t")
    mtb.to_csv(d / "mtb.tsv", sep="\t")
    meta.to_csv(d / "meta.tsv", sep="\t", index=False)
    out = d / "out"
    run_integrate(
        metadata_path=d / "meta.tsv",
        taxa_path=d / "taxa.tsv",
        metabolites_path=d / "mtb.tsv",
        outdir=out,
        settings=Settings(variables=("group",)),
        variable_types={"group": {"type": "categorical", "levels": ["A", "B"]}},
        sample_column="Sample",
        patient_column="Subject",
    )
    return taxa, mtb, meta.set_index("Sample"), out


def test_taxa_clr_is_over_the_kept_taxa_only(cohort):
    taxa, _, _, out = cohort
    tidy = pd.read_csv(out / "harmonised/taxa.tsv", sep="\t")
    got = tidy.pivot(index="sample_id", columns="feature", values="clr").loc[taxa.index]
    assert sorted(got.columns[got.notna().all()]) == sorted(COMMON)  # the others filtered out
    kept = skbio_clr(taxa[COMMON].to_numpy() + 0.5)
    assert got[COMMON].to_numpy() == pytest.approx(kept, abs=1e-5)
    # The CLR over every taxon, then filtered (the former order), is far from it: the
    # dominant taxon moves its sample's reference, the rare zeros every sample's.
    every = pd.DataFrame(skbio_clr(taxa.to_numpy() + 0.5), index=taxa.index, columns=taxa.columns)
    assert np.abs(every[COMMON].to_numpy() - kept).max() > 1


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_associations_and_correlations_use_the_kept_taxa_clr(cohort):
    import statsmodels.api as sm

    taxa, mtb, meta, out = cohort
    kept = pd.DataFrame(skbio_clr(taxa[COMMON].to_numpy() + 0.5), index=taxa.index, columns=COMMON)
    logs = np.log(mtb)

    # Associations: patients repeat, so a random intercept per patient (MixedLM), refitted here.
    assoc = pd.read_csv(out / "associations.tsv", sep="\t", keep_default_na=False)
    taxon_rows = assoc[assoc["feature_type"] == "taxon"].set_index("feature")
    assert sorted(taxon_rows.index) == sorted(COMMON)
    assert set(assoc["model"]) == {"mixedlm"}
    X = sm.add_constant((meta["group"] == "B").astype(float).rename("B"))
    for taxon in COMMON:
        fit = sm.MixedLM(kept[taxon].to_numpy(), X, groups=meta["Subject"].to_numpy()).fit(
            reml=True
        )
        assert float(taxon_rows.at[taxon, "coefficient"]) == pytest.approx(
            fit.params["B"], rel=1e-4
        )

    # Correlations: Spearman over the patients' means of the kept-taxa CLR and the log values.
    corr = pd.read_csv(out / "correlations.tsv", sep="\t")
    assert list(corr.columns) == ["taxon", "metabolite", "rho", "p_value", "q_value", "n",
                                  "taxon_name", "n_patients"]  # fmt: skip
    assert set(corr["n"]) == {24} and set(corr["n_patients"]) == {20}
    t_mean = kept.groupby(meta["Subject"]).mean()
    m_mean = logs.groupby(meta["Subject"]).mean()
    assert len(corr) == 15
    for row in corr.itertuples():
        expected = spearmanr(t_mean[row.taxon], m_mean[row.metabolite])
        assert row.rho == pytest.approx(expected.statistic, abs=1e-5)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-4)
