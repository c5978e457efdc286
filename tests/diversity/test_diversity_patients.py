"""Repeated patients: restricted permutations of PERMANOVA/PERMDISP and the alpha tests, against
scikit-bio, scipy and statsmodels called directly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as scipy_stats
from skbio import DistanceMatrix
from skbio.stats.distance import permanova as skbio_permanova
from skbio.stats.distance import permdisp as skbio_permdisp
from skbio.stats.ordination import pcoa

from microbiome.diversity import stats
from microbiome.diversity.run import DiversityOptions, run_diversity
from microbiome.io.feature_table import read_feature_table
from microbiome.io.metadata import read_metadata


def _cohort(seed=3, n_patients=12, per_patient=3, shift=1.0):
    """Samples around their patient's centre (a strong patient effect); responders' centres
    shifted by ``shift``. Returns the distances, responder (patient-level), timepoint (varies
    within patients) and the patients, all indexed by sample ID."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_patients, 4))
    responder = np.array(["yes", "no"] * (n_patients // 2))
    centres[responder == "yes"] += shift
    n = n_patients * per_patient
    points = np.repeat(centres, per_patient, axis=0) + rng.normal(scale=0.5, size=(n, 4))
    ids = [f"s{i:02d}" for i in range(n)]
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    patients = pd.Series(np.repeat([f"P{p:02d}" for p in range(n_patients)], per_patient), ids)
    groups = pd.Series(np.repeat(responder, per_patient), index=ids)
    timepoint = pd.Series(np.tile([f"t{t}" for t in range(per_patient)], n_patients), index=ids)
    return DistanceMatrix(d, ids=ids), groups, timepoint, patients


def _coordinates(dm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pcoa(dm, method="eigh", dimensions=0).samples.to_numpy()


def _codes(groups):
    return np.unique(groups.astype(str).to_numpy(), return_inverse=True)[1]


def test_scheme_follows_the_patients():
    _, responder, timepoint, patients = _cohort()
    assert stats.permutation_scheme(responder, patients) == stats.BLOCKS
    assert stats.permutation_scheme(timepoint, patients) == stats.WITHIN
    one_each = pd.Series([f"P{i}" for i in range(len(responder))], index=responder.index)
    assert stats.permutation_scheme(responder, one_each) == stats.FREE
    assert stats.permutation_scheme(responder, None) == stats.FREE
    # only the samples tested count: one sample per patient among them is free
    first = responder[~patients.duplicated()]
    assert stats.permutation_scheme(first, patients) == stats.FREE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pseudo_f_of_the_observed_grouping_equals_scikit_bio(seed):
    dm, responder, timepoint, _ = _cohort(seed=seed)
    uneven = pd.Series(
        np.where(np.arange(len(responder)) % 5 == 0, "c", timepoint), responder.index
    )
    for groups in (responder, timepoint, uneven):
        ref = skbio_permanova(dm, groups.to_numpy(), permutations=0)["test statistic"]
        assert stats.permanova_f(dm.data, _codes(groups)[None])[0] == pytest.approx(ref, rel=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = skbio_permdisp(dm, groups.to_numpy(), permutations=0, dimensions=0)
        got = stats.permdisp_f(_coordinates(dm), _codes(groups)[None])[0]
        assert got == pytest.approx(ref["test statistic"], rel=1e-9)


def test_permdisp_f_of_a_batch_equals_scikit_bios_public_test_of_each_grouping():
    """Our cached kernel against scikit-bio's public permdisp, one grouping at a time, also with
    a group of one sample and with coinciding samples (the Weiszfeld iteration's special
    cases)."""
    dm, _, timepoint, patients = _cohort(seed=4)
    codes = _codes(timepoint)
    batch = next(
        stats.permuted_groupings(codes, patients, stats.WITHIN, 5, np.random.default_rng(0))
    )
    singleton = np.where(np.arange(len(codes)) == 0, codes.max() + 1, codes)
    ids = [f"s{i}" for i in range(8)]
    twins = DistanceMatrix(np.repeat(np.repeat(1.0 - np.eye(2), 4, 0), 4, 1), ids=ids)
    for distances, groupings in (
        (dm, batch),
        (dm, singleton[None]),
        (twins, np.array([[0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1, 1]])),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = [
                skbio_permdisp(distances, row, permutations=0, dimensions=0)["test statistic"]
                for row in groupings
            ]
        got = stats.permdisp_f(_coordinates(distances), groupings)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_free_permutations_are_scikit_bios_own():
    """The same seed gives scikit-bio's permutations, statistics and p-values."""
    dm, responder, *_ = _cohort(seed=5)
    codes = np.random.default_rng(0).permutation(np.arange(len(responder)) % 3)
    p, null = stats.restricted_p_value(
        lambda b: stats.permanova_f(dm.data, b), codes, None, stats.FREE, permutations=199, seed=9
    )
    ref = skbio_permanova(dm, codes, permutations=199, seed=9)
    assert p == ref["p-value"] and 0.01 < p < 1
    rng = np.random.default_rng(9)
    for value in null[:10]:
        grouping = rng.permutation(codes)
        assert value == pytest.approx(
            skbio_permanova(dm, grouping, permutations=0)["test statistic"]
        )
    coords = _coordinates(dm)
    p, _ = stats.restricted_p_value(
        lambda b: stats.permdisp_f(coords, b), codes, None, stats.FREE, permutations=99, seed=9
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert p == skbio_permdisp(dm, codes, permutations=99, seed=9, dimensions=0)["p-value"]


def test_without_repeats_the_tests_are_scikit_bios():
    dm, responder, *_ = _cohort(seed=6, per_patient=1, n_patients=24)
    one_each = pd.Series(responder.index, index=responder.index)
    got = stats.permanova(dm, responder, permutations=99, seed=2, patients=one_each)
    ref = skbio_permanova(dm, responder.to_numpy(), permutations=99, seed=2, engine="numba")
    assert (got["p_value"], got["permutation_scheme"]) == (ref["p-value"], "free")
    assert "note" not in got


def test_blocks_never_split_a_patient_and_keep_the_patients_labels():
    _, responder, _, patients = _cohort(n_patients=10, per_patient=3)
    patients.iloc[-1] = "P99"  # patients of unequal sizes: a single-sample patient
    codes = _codes(responder)
    batches = stats.permuted_groupings(
        codes, patients.to_numpy(), stats.BLOCKS, 500, np.random.default_rng(1), chunk=64
    )
    rows = np.vstack(list(batches))
    assert rows.shape == (500, len(codes))
    first = ~patients.duplicated().to_numpy()
    for row in rows:
        per_patient = pd.Series(row).groupby(patients.to_numpy()).nunique()
        assert (per_patient == 1).all()  # every sample of a patient has the same label
        assert sorted(row[first]) == sorted(codes[first])  # the patients' labels, shuffled
    assert len({tuple(r) for r in rows}) > 50  # the labels do move between patients


def test_within_never_moves_a_label_across_patients():
    _, _, timepoint, patients = _cohort(n_patients=8, per_patient=3)
    patients.iloc[:2] = ["Q", "R"]  # three single-sample patients (Q, R, P00): labels stay
    codes = _codes(timepoint)
    who = patients.to_numpy()
    rows = np.vstack(
        list(stats.permuted_groupings(codes, who, stats.WITHIN, 300, np.random.default_rng(2)))
    )
    for row in rows:
        for patient in np.unique(who):
            mine = who == patient
            assert sorted(row[mine]) == sorted(codes[mine])
    assert (rows[:, :3] == codes[:3]).all()
    assert (rows[:, 3:] != codes[3:]).any(axis=0).all()  # every other sample's label moves
    assert stats.distinct_arrangements(codes, who, stats.WITHIN) == 6**7  # 3! for 7 patients


def test_patient_level_variable_permuted_as_blocks_is_not_pseudo_replicated():
    """Three samples per patient, a strong patient effect: free permutations treat the samples
    as independent and find the responders different; moving whole patients does not."""
    dm, responder, _, patients = _cohort(seed=3)
    free = stats.permanova(dm, responder, permutations=999, seed=1)
    blocks = stats.permanova(dm, responder, permutations=999, seed=1, patients=patients)
    assert blocks["permutation_scheme"] == "patients as blocks"
    assert blocks["pseudo_f"] == pytest.approx(free["pseudo_f"])  # scikit-bio's statistic
    assert free["p_value"] <= 0.002 and blocks["p_value"] > 0.04
    assert "12 patients, 36 samples" in blocks["note"]
    dm, responder, _, patients = _cohort(seed=4)
    free = stats.permdisp(dm, responder, permutations=999, seed=1)
    blocks = stats.permdisp(dm, responder, permutations=999, seed=1, patients=patients)
    assert blocks["f_statistic"] == pytest.approx(free["f_statistic"])
    assert blocks["p_value"] > free["p_value"]


def test_restricted_p_value_is_the_share_of_restricted_permutations_as_large():
    dm, _, timepoint, patients = _cohort(seed=7, shift=0.0)
    codes, who = _codes(timepoint), patients.to_numpy()
    got = stats.permanova(dm, timepoint, permutations=199, seed=5, patients=patients)
    assert got["permutation_scheme"] == "within patients"
    rng = np.random.default_rng(5)
    observed = skbio_permanova(dm, codes, permutations=0)["test statistic"]
    null = [
        skbio_permanova(dm, row, permutations=0)["test statistic"]
        for batch in stats.permuted_groupings(codes, who, stats.WITHIN, 199, rng)
        for row in batch
    ]
    expected = (1 + sum(f >= observed * (1 - 1e-9) for f in null)) / 200
    assert got["p_value"] == pytest.approx(expected)


def test_few_patients_say_how_few_labellings_there_are():
    dm, responder, _, patients = _cohort(seed=1, n_patients=6)
    got = stats.permanova(dm, responder, permutations=199, seed=1, patients=patients)
    assert "only 20 distinct labellings" in got["note"]  # 6 patients, 3 responders: C(6, 3)


def _alpha_cohort(seed=3, n_patients=15, per_patient=3):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n_patients * per_patient)]
    patients = pd.Series(np.repeat([f"P{i:02d}" for i in range(n_patients)], per_patient), ids)
    timepoint = np.tile([f"t{t}" for t in range(per_patient)], n_patients)
    responder = np.repeat(np.array(["no", "yes"] * n_patients)[:n_patients], per_patient)
    alpha = (
        np.repeat(rng.normal(size=n_patients), per_patient)
        + 0.7 * (timepoint == "t2")
        + rng.normal(scale=0.5, size=len(ids))
    )
    frame = pd.DataFrame(
        {
            "alpha": alpha,
            "timepoint": timepoint,
            "responder": responder,
            "x": rng.normal(size=len(ids)),
            "patient": patients,
        },
        index=ids,
    )
    return frame, patients


def test_alpha_against_a_patient_level_variable_is_tested_on_patient_means():
    frame, patients = _alpha_cohort()
    got = stats.alpha_test(frame["alpha"], frame["responder"], "binary", patients)
    means = frame.groupby("patient").agg(alpha=("alpha", "mean"), responder=("responder", "first"))
    ref = scipy_stats.mannwhitneyu(
        means.loc[means["responder"] == "no", "alpha"],
        means.loc[means["responder"] == "yes", "alpha"],
    )
    assert got["test"] == "mann_whitney_u_patient_means"
    assert (got["statistic"], got["p_value"]) == (
        pytest.approx(ref.statistic),
        pytest.approx(ref.pvalue),
    )
    assert (got["n_samples"], got["n_patients"]) == (45, 15)
    assert "averaged per patient" in got["note"]
    age = frame.groupby("patient")["x"].transform("first")  # continuous, constant per patient
    got = stats.alpha_test(frame["alpha"], age, "continuous", patients)
    ref = scipy_stats.spearmanr(means["alpha"], frame.groupby("patient")["x"].first())
    assert got["test"] == "spearman_patient_means"
    assert got["p_value"] == pytest.approx(ref.pvalue)


def test_alpha_against_a_varying_variable_is_a_mixed_model():
    frame, patients = _alpha_cohort()
    # continuous: Wald z of the slope, as statsmodels' formula API
    got = stats.alpha_test(frame["alpha"], frame["x"], "continuous", patients)
    fit = smf.mixedlm("alpha ~ x", frame, groups=frame["patient"]).fit()
    assert got["test"] == "mixed_model_wald" and "Wald z of the slope" in got["note"]
    assert got["statistic"] == pytest.approx(fit.tvalues["x"], rel=1e-5)
    assert got["p_value"] == pytest.approx(fit.pvalues["x"], rel=1e-5)
    # two levels: Wald z of the level
    two = frame[frame["timepoint"] != "t1"]
    got = stats.alpha_test(two["alpha"], two["timepoint"], "categorical", patients)
    fit = smf.mixedlm("alpha ~ timepoint", two, groups=two["patient"]).fit()
    assert got["test"] == "mixed_model_wald" and "t2 vs t0" in got["note"]
    assert got["p_value"] == pytest.approx(fit.pvalues["timepoint[T.t2]"], rel=1e-5)
    assert got["p_value"] < 1e-4  # the timepoint effect is found
    # three levels: likelihood-ratio test of ML fits
    got = stats.alpha_test(frame["alpha"], frame["timepoint"], "categorical", patients)
    full = smf.mixedlm("alpha ~ timepoint", frame, groups=frame["patient"]).fit(reml=False)
    null = smf.mixedlm("alpha ~ 1", frame, groups=frame["patient"]).fit(reml=False)
    lr = 2 * (full.llf - null.llf)
    assert got["test"] == "mixed_model_lrt" and "2 df" in got["note"]
    assert got["statistic"] == pytest.approx(lr, rel=1e-5)
    assert got["p_value"] == pytest.approx(scipy_stats.chi2.sf(lr, 2), rel=1e-4)
    assert (got["n_samples"], got["n_patients"]) == (45, 15)


def test_alpha_without_repeats_is_unchanged():
    frame, _ = _alpha_cohort(per_patient=1, n_patients=30)
    one_each = pd.Series(frame.index, index=frame.index)
    got = stats.alpha_test(frame["alpha"], frame["responder"], "binary", one_each)
    ref = scipy_stats.mannwhitneyu(
        frame.loc[frame["responder"] == "no", "alpha"],
        frame.loc[frame["responder"] == "yes", "alpha"],
    )
    assert got == {
        "test": "mann_whitney_u",
        "statistic": pytest.approx(ref.statistic),
        "p_value": pytest.approx(ref.pvalue),
        "n_samples": 30,
        "n_patients": 30,
    }


def _run(tmp_path, options):
    """run_diversity on ``tmp_path``'s table.tsv and meta.tsv; its output folder."""
    out = tmp_path / "out"
    run_diversity(
        read_feature_table(tmp_path / "table.tsv"),
        read_metadata(tmp_path / "meta.tsv"),
        out,
        options,
    )
    return out


def test_run_reports_the_scheme_and_the_patients(tmp_path):
    """A longitudinal cohort: 8 patients x 3 timepoints, responder constant per patient."""
    rng = np.random.default_rng(5)
    n_patients, per = 8, 3
    samples = [f"S{i:02d}" for i in range(n_patients * per)]
    base = rng.gamma(2.0, 10.0, size=(n_patients, 10))
    data = rng.poisson(np.repeat(base, per, axis=0) + 1)
    table = pd.DataFrame(data, index=pd.Index(samples, name="sample_id"))
    table.columns = [f"taxon{j}" for j in range(10)]
    table.to_csv(tmp_path / "table.tsv", sep="\t")
    meta = pd.DataFrame(
        {
            "sample_id": samples,
            "patient_id": np.repeat([f"P{p}" for p in range(n_patients)], per),
            "responder": np.repeat(["yes", "no"] * (n_patients // 2), per),
            "timepoint": np.tile(["t0", "t1", "t2"], n_patients),
        }
    )
    meta.to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    options = DiversityOptions(
        variables=("responder", "timepoint"),
        metrics=("braycurtis",),
        permutations=99,
        rarefaction_steps=4,
        rarefaction_repeats=2,
        figures=False,
    )
    out = _run(tmp_path, options)
    permanova = pd.read_csv(out / "tests" / "permanova.tsv", sep="\t").set_index("variable")
    assert list(permanova.columns[-2:]) == ["permutation_scheme", "distances_of"]
    assert permanova.at["responder", "permutation_scheme"] == "patients as blocks"
    assert permanova.at["timepoint", "permutation_scheme"] == "within patients"
    assert permanova.at["responder", "distances_of"] == "relative abundances"
    permdisp = pd.read_csv(out / "tests" / "permdisp.tsv", sep="\t").set_index("variable")
    assert permdisp.at["timepoint", "permutation_scheme"] == "within patients"
    alpha = pd.read_csv(out / "tests" / "alpha_tests.tsv", sep="\t")
    assert alpha.columns[-1] == "n_patients"
    assert (alpha["n_samples"] == 24).all() and (alpha["n_patients"] == 8).all()
    by_variable = alpha.groupby("variable")["test"].agg(set)
    assert by_variable["responder"] == {"mann_whitney_u_patient_means"}
    assert by_variable["timepoint"] == {"mixed_model_lrt"}


def test_run_without_patients_says_free(tmp_path):
    table = pd.DataFrame(
        np.random.default_rng(0).poisson(20, size=(10, 6)),
        index=pd.Index([f"S{i}" for i in range(10)], name="sample_id"),
        columns=[f"t{j}" for j in range(6)],
    )
    table.to_csv(tmp_path / "table.tsv", sep="\t")
    pd.DataFrame({"sample_id": table.index, "group": ["A", "B"] * 5}).to_csv(
        tmp_path / "meta.tsv", sep="\t", index=False
    )
    options = DiversityOptions(
        variables=("group",), permutations=49, rarefaction_steps=3, figures=False
    )
    out = _run(tmp_path, options)
    permanova = pd.read_csv(out / "tests" / "permanova.tsv", sep="\t")
    assert (permanova["permutation_scheme"] == "free").all()
    assert set(permanova["distances_of"]) == {
        "relative abundances",
        "presence/absence",
        "CLR of counts + pseudocount",
    }
    alpha = pd.read_csv(out / "tests" / "alpha_tests.tsv", sep="\t")
    assert (alpha["n_patients"] == alpha["n_samples"]).all()
    assert set(alpha["test"]) == {"mann_whitney_u"}
