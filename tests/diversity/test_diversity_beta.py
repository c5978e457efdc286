"""Distances against scipy/scikit-bio called directly, tree matching, sketch distances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance
from skbio import TreeNode
from skbio.diversity.beta import unweighted_unifrac, weighted_unifrac
from skbio.stats.composition import clr

from microbiome.diversity.beta import check_metrics, distance_matrix, match_tree
from microbiome.errors import ConfigError, InputError


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    data = rng.poisson(3, size=(5, 6)).astype(float)
    data[:, 0] += 1
    return pd.DataFrame(data, index=list("ABCDE"), columns=["t1", "t2", "t3", "t4", "t5", "t6"])


def test_bray_curtis_jaccard_aitchison_equal_scipy(table):
    values = table.to_numpy()
    props = values / values.sum(axis=1, keepdims=True)
    bc = distance_matrix("braycurtis", table)
    jac = distance_matrix("jaccard", table)
    ait = distance_matrix("aitchison", table, pseudocount=0.5)
    z = clr(values + 0.5)
    for i in range(5):
        for j in range(5):
            assert bc[i, j] == pytest.approx(distance.braycurtis(props[i], props[j]))
            assert jac[i, j] == pytest.approx(distance.jaccard(values[i] > 0, values[j] > 0))
            assert ait[i, j] == pytest.approx(distance.euclidean(z[i], z[j]))
    assert list(bc.ids) == list("ABCDE")


NEWICK = "(((t1:1,t2:2):1,Bacteroides_fragilis:1.5):0.5,(t4:1,extra:3):2);"


def test_tree_matching_and_unifrac_equal_scikit_bio(tmp_path, table):
    path = tmp_path / "tree.nwk"
    path.write_text(NEWICK)
    features = pd.DataFrame(
        {"name": ["a", "b", "Bacteroides fragilis", "d", "e", "f"]}, index=table.columns
    )
    phylo = match_tree(path, features)
    assert (phylo.n_matched, phylo.n_features) == (4, 6)
    assert phylo.tips == ["t1", "t2", "Bacteroides fragilis", "t4", None, None]
    got = distance_matrix("weighted_unifrac", table, phylogeny=phylo.as_tuple)
    got_u = distance_matrix("unweighted_unifrac", table, phylogeny=phylo.as_tuple)
    tree = TreeNode.read([NEWICK])
    taxa = ["t1", "t2", "Bacteroides fragilis", "t4"]
    values = table[["t1", "t2", "t3", "t4"]].to_numpy().astype(int)
    for i in range(5):
        for j in range(i + 1, 5):
            assert got[i, j] == pytest.approx(weighted_unifrac(values[i], values[j], taxa, tree))
            assert got_u[i, j] == pytest.approx(
                unweighted_unifrac(values[i], values[j], taxa, tree)
            )


def test_tree_without_matching_tips_is_an_input_error(tmp_path, table):
    path = tmp_path / "tree.nwk"
    path.write_text("((x:1,y:1):1,z:2);")
    features = pd.DataFrame({"name": list("abcdef")}, index=table.columns)
    with pytest.raises(InputError, match="none of the 6 taxa"):
        match_tree(path, features)


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: braycurtis"):
        check_metrics(["bray"], tree=False)
    with pytest.raises(ConfigError, match="Newick tree"):
        check_metrics(["weighted_unifrac"], tree=False)
