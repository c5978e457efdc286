"""The whole analysis on small tables: outputs, what is left out and why, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from skbio import TreeNode
from skbio.diversity import alpha_diversity, beta_diversity
from skbio.stats.distance import permanova

from microbiome.diversity.run import DiversityOptions, run_diversity
from microbiome.errors import ConfigError, InputError
from microbiome.io.feature_table import read_feature_table
from microbiome.io.metadata import read_metadata
from microbiome.kmer.format import Sketch, write_sketch
from microbiome.kmer.sketch import compare


def _write_inputs(tmp_path, *, zero_sample=True):
    rng = np.random.default_rng(11)
    samples = [f"S{i:02d}" for i in range(12)]
    data = rng.poisson(20, size=(12, 8))
    data[6:, :3] += 40  # the second half differs
    if zero_sample:
        data[3] = 0
    table = pd.DataFrame(
        data, index=pd.Index(samples, name="sample_id"), columns=[f"taxon{j}" for j in range(8)]
    )
    table.to_csv(tmp_path / "table.tsv", sep="\t")
    meta = pd.DataFrame(
        {
            "sample_id": samples[1:] + ["GHOST"],  # S00 has no row; GHOST matches nothing
            "group": ["A"] * 5 + ["B"] * 6 + ["A"],
            "site": ["gut"] * 12,  # a single level
            "age": [30, 41, 47, 52, None, 33, 45, 70, 38, 49, 55, 61],  # one missing
        }
    )
    meta.to_csv(tmp_path / "meta.tsv", sep="\t", index=False, na_rep="NA")
    return tmp_path / "table.tsv", tmp_path / "meta.tsv"


def _run(tmp_path, out="out", figures=False, **options):
    table_path, meta_path = _write_inputs(tmp_path)
    table = read_feature_table(table_path)
    metadata = read_metadata(meta_path)
    opts = DiversityOptions(
        permutations=99, rarefaction_repeats=2, rarefaction_steps=5, figures=figures, **options
    )
    summary = run_diversity(table, metadata, tmp_path / out, opts)
    return tmp_path / out, summary, table, metadata


def _tsv(path):
    return pd.read_csv(path, sep="\t", keep_default_na=True)


def test_bad_samples_and_variables_are_listed_not_dropped_silently(tmp_path):
    out, summary, table, _ = _run(tmp_path, variables=("group", "site", "age"))
    excluded = _tsv(out / "excluded.tsv").set_index("sample_id")["reason"]
    assert "all counts are zero" in excluded["S03"]
    assert "no row in the metadata" in excluded["S00"]
    assert "not in the table" in excluded["GHOST"]
    skipped = _tsv(out / "tests" / "skipped_variables.tsv").set_index("variable")
    assert list(skipped.index) == ["site"] and "single level" in skipped.at["site", "reason"]
    alpha = _tsv(out / "alpha.tsv")
    assert "S03" not in set(alpha["sample_id"]) and len(alpha) == 11
    tests = _tsv(out / "tests" / "alpha_tests.tsv")
    age = tests[tests["variable"] == "age"]
    assert (age["test"] == "spearman").all()
    # S00 (no metadata), S03 (no counts) and the sample without an age are left out.
    assert (age["n_samples"] == 9).all() and age["note"].str.contains("1 of 10").all()
    assert summary["variables_tested"] == ["group", "age"]


def test_permanova_row_equals_scikit_bio_on_the_same_samples(tmp_path):
    out, _, table, metadata = _run(tmp_path, variables=("group",))
    rows = _tsv(out / "tests" / "permanova.tsv").set_index("metric")
    data = table.data.drop(index=["S03"])
    props = data.div(data.sum(axis=1), axis=0)
    dm = beta_diversity("braycurtis", props.to_numpy(), ids=list(props.index))
    tested = [s for s in props.index if s in metadata.table.index]
    groups = metadata.table.loc[tested, "group"].astype(str).to_numpy()
    ref = permanova(dm.filter(tested), groups, permutations=99, seed=42)
    assert rows.at["braycurtis", "pseudo_f"] == pytest.approx(ref["test statistic"])
    assert rows.at["braycurtis", "p_value"] == pytest.approx(ref["p-value"])
    assert rows.at["braycurtis", "n_samples"] == 10
    matrix = _tsv(out / "beta" / "braycurtis.distances.tsv").set_index("sample_id")
    np.testing.assert_allclose(
        matrix.loc[list(dm.ids), list(dm.ids)].to_numpy(), dm.data, atol=1e-9
    )
    permdisp = _tsv(out / "tests" / "permdisp.tsv")
    assert set(permdisp["metric"]) == {"braycurtis", "jaccard", "aitchison"}


def test_missing_skip_skips_the_variable(tmp_path):
    out, summary, *_ = _run(tmp_path, variables=("age",), missing="skip")
    skipped = _tsv(out / "tests" / "skipped_variables.tsv")
    assert list(skipped["variable"]) == ["age"] and "no value" in skipped["reason"][0]
    assert summary["variables_tested"] == []
    assert len(_tsv(out / "tests" / "alpha_tests.tsv")) == 0


def test_outputs_and_figures_are_reproducible(tmp_path):
    options = {"variables": ("group", "age"), "rarefaction_depth": 100, "figures": True}
    first, *_ = _run(tmp_path, out="one", metrics=("braycurtis", "aitchison"), **options)
    second, *_ = _run(tmp_path, out="two", metrics=("braycurtis", "aitchison"), **options)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert {"figures/rarefaction.svg", "figures/pcoa_aitchison_age.png"} <= {str(p) for p in files}
    assert "figures/alpha_shannon_ln_group.svg" in {str(p) for p in files}
    for rel in files:
        if rel.name != "parameters.json":
            assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    rarefied = _tsv(first / "alpha.rarefied.tsv")
    assert (rarefied["rarefaction_depth"] == 100).all()
    params = json.loads((first / "parameters.json").read_text())
    assert params["options"]["rarefaction_depth"] == 100 and "scikit-bio" in params["versions"]
    variance = _tsv(first / "pcoa" / "braycurtis.variance.tsv")
    assert list(variance.columns) == ["axis", "eigenvalue", "proportion_explained"]
    coords = _tsv(first / "pcoa" / "braycurtis.coordinates.tsv")
    assert list(coords.columns[:3]) == ["sample_id", "PC1", "PC2"]


def test_unknown_variable_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'nope' is not a column"):
        _run(tmp_path, variables=("nope",))


def test_one_sample_with_counts_gives_every_output_without_tests(tmp_path):
    path = tmp_path / "tiny.tsv"
    path.write_text("sample_id\ta\tb\nX\t1\t2\nY\t0\t0\n")
    meta = tmp_path / "meta.tsv"
    meta.write_text("sample_id\tgroup\nX\tA\nY\tB\n")
    out = tmp_path / "tiny"
    options = DiversityOptions(variables=("group",), figures=True, rarefaction_steps=3)
    run_diversity(read_feature_table(path), read_metadata(meta), out, options)
    assert list(_tsv(out / "alpha.tsv")["sample_id"]) == ["X"]
    assert _tsv(out / "excluded.tsv").set_index("sample_id").index.tolist() == ["Y"]
    assert _tsv(out / "beta" / "braycurtis.distances.tsv").shape == (1, 2)
    assert len(_tsv(out / "tests" / "permanova.tsv")) == 0
    assert "1 sample(s)" in _tsv(out / "tests" / "skipped_variables.tsv")["reason"][0]
    assert (out / "figures" / "pcoa_aitchison_group.svg").is_file()


def test_a_table_without_counts_is_an_input_error(tmp_path):
    path = tmp_path / "zero.tsv"
    path.write_text("sample_id\ta\tb\nX\t0\t0\nY\t0\t0\n")
    with pytest.raises(InputError, match="no sample has any counts"):
        run_diversity(read_feature_table(path), None, tmp_path / "zero", DiversityOptions())


def test_tree_gives_unifrac_and_faith_pd_over_the_matched_taxa(tmp_path):
    newick = "((taxon0:1,taxon1:2):0.5,((taxon2:1,taxon5:1):1,elsewhere:4):1);"
    (tmp_path / "tree.nwk").write_text(newick)
    out, summary, table, _ = _run(
        tmp_path,
        metrics=("weighted_unifrac",),
        tree=str(tmp_path / "tree.nwk"),
        variables=("group",),
    )
    assert (summary["tree_tips_matched"], summary["tree_features"]) == (4, 8)
    params = json.loads((out / "parameters.json").read_text())
    assert params["summary"]["tree_tips_matched"] == 4
    data = table.data.drop(index=["S03"])
    taxa = ["taxon0", "taxon1", "taxon2", "taxon5"]
    tree = TreeNode.read([newick])
    faith = alpha_diversity("faith_pd", data[taxa].to_numpy().astype(int), taxa=taxa, tree=tree)
    alpha = _tsv(out / "alpha.tsv")
    np.testing.assert_allclose(alpha["faith_pd"], faith.to_numpy())
    unifrac = beta_diversity(
        "weighted_unifrac",
        data[taxa].to_numpy().astype(int),
        ids=list(data.index),
        taxa=taxa,
        tree=tree,
    )
    got = _tsv(out / "beta" / "weighted_unifrac.distances.tsv").set_index("sample_id")
    np.testing.assert_allclose(got.loc[list(data.index), list(data.index)], unifrac.data)
    assert set(_tsv(out / "tests" / "alpha_tests.tsv")["metric"]) >= {"faith_pd"}


def test_sketches_add_the_kmer_jaccard_view(tmp_path):
    rng = np.random.default_rng(3)
    pool = np.sort(rng.choice(2**40, size=400, replace=False)).astype(np.uint64)
    sketches = []
    for i in range(12):
        hashes = np.unique(rng.choice(pool[: 200 + 15 * i], size=120, replace=False))
        sketch = Sketch(f"S{i:02d}", 21, 100, 42, hashes, np.ones(len(hashes), np.uint32))
        write_sketch(tmp_path / f"S{i:02d}.sketch", sketch)
        sketches.append(sketch)
    paths = tuple(str(tmp_path / f"S{i:02d}.sketch") for i in range(12))
    out, *_ = _run(tmp_path, sketches=paths, variables=("group",))
    kept = [f"S{i:02d}" for i in range(12) if i != 3]  # S03 has no counts in the table
    expected = 1 - compare(sketches).jaccard.loc[kept, kept]
    got = _tsv(out / "beta" / "kmer_jaccard.distances.tsv").set_index("sample_id")
    np.testing.assert_allclose(got.loc[kept, kept].to_numpy(), expected.to_numpy())
    rows = _tsv(out / "tests" / "permanova.tsv")
    assert "kmer_jaccard" in set(rows["metric"])
