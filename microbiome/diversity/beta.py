"""Distances between samples (scikit-bio's metrics), and the tree matching for UniFrac.

- ``braycurtis``: Bray-Curtis dissimilarity of the relative abundances (each sample scaled to 1);
- ``jaccard``: Jaccard distance of presence/absence (count > 0);
- ``aitchison``: Euclidean distance of the centred log-ratio (CLR) transform of
  ``counts + pseudocount`` (Aitchison 1986): ``clr(x)_i = ln x_i - mean_j ln x_j``;
- ``weighted_unifrac``, ``unweighted_unifrac``: Lozupone et al. 2005/2007 on a rooted Newick tree
  whose tips are the taxa (taxa not in the tree are left out of these two, and counted);
- ``kmer_jaccard``: ``1 - Jaccard`` of FracMinHash sketches of each sample's reads (reference
  free: it needs no taxa table; see :mod:`microbiome.kmer.sketch`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError

log = logging.getLogger(__name__)

#: Metrics computed from the taxa table.
TABLE_METRICS = ("braycurtis", "jaccard", "aitchison", "weighted_unifrac", "unweighted_unifrac")
PHYLOGENETIC = frozenset({"weighted_unifrac", "unweighted_unifrac"})
#: The metric of the k-mer sketches.
SKETCH_METRIC = "kmer_jaccard"
#: What each metric's distances are computed on (column ``distances_of`` of the tests tables):
#: never raw counts, so that depths varying 20-fold across samples do not weigh on the tests.
DISTANCES_OF = {
    "braycurtis": "relative abundances",
    "jaccard": "presence/absence",
    "aitchison": "CLR of counts + pseudocount",
    "weighted_unifrac": "relative abundances on the tree",
    "unweighted_unifrac": "presence/absence on the tree",
    SKETCH_METRIC: "k-mer sketches of the reads",
}


def check_metrics(metrics: Sequence[str], *, tree: bool) -> list[str]:
    """``metrics`` without duplicates; unknown names and UniFrac without a tree are ConfigErrors."""
    unknown = [m for m in metrics if m not in TABLE_METRICS]
    if unknown:
        raise ConfigError(
            f"unknown beta diversity metric {unknown[0]!r}; valid: {', '.join(TABLE_METRICS)}"
        )
    if not tree and PHYLOGENETIC.intersection(metrics):
        raise ConfigError("UniFrac needs a Newick tree of the taxa (--tree, diversity.tree)")
    return list(dict.fromkeys(metrics))


def clr_table(table: pd.DataFrame, pseudocount: float) -> np.ndarray:
    """CLR transform of ``table + pseudocount`` (rows are samples), scikit-bio's ``clr``."""
    from skbio.stats.composition import clr

    if pseudocount <= 0 and (table.to_numpy() <= 0).any():
        raise ConfigError("the table has zeros: the Aitchison distance needs a pseudocount > 0")
    return clr(table.to_numpy(dtype=np.float64) + pseudocount)


def distance_matrix(
    metric: str,
    table: pd.DataFrame,
    *,
    pseudocount: float = 1.0,
    phylogeny: tuple | None = None,
):
    """The ``skbio.DistanceMatrix`` of ``metric`` between the samples (rows) of ``table``.

    ``phylogeny`` is (tree, tip name or None per column of ``table``) for the UniFrac metrics.
    """
    from skbio.diversity import beta_diversity

    ids = list(table.index)
    values = table.to_numpy(dtype=np.float64)
    if metric == "braycurtis":
        return beta_diversity("braycurtis", values / values.sum(axis=1, keepdims=True), ids=ids)
    if metric == "jaccard":
        return beta_diversity("jaccard", values > 0, ids=ids, validate=False)
    if metric == "aitchison":
        return beta_diversity("euclidean", clr_table(table, pseudocount), ids=ids, validate=False)
    if metric in PHYLOGENETIC:
        tree, tips = phylogeny
        keep = [i for i, tip in enumerate(tips) if tip is not None]
        return beta_diversity(
            metric,
            values[:, keep],
            ids=ids,
            taxa=[tips[i] for i in keep],
            tree=tree,
            validate=False,
        )
    raise ConfigError(
        f"unknown beta diversity metric {metric!r}; valid: {', '.join(TABLE_METRICS)}"
    )


@dataclass(frozen=True)
class Phylogeny:
    """A tree sheared to the taxa it shares with a table.

    Attributes
    ----------
    tree : skbio.TreeNode
    tips : list of (str or None), one per feature of the table: its tip name, None if absent
    n_matched, n_features : int
    """

    tree: object
    tips: list
    n_matched: int
    n_features: int

    @property
    def as_tuple(self) -> tuple:
        return self.tree, self.tips


def _key(name: str) -> str:
    """Tip and taxon names compared case-insensitively with spaces and underscores alike."""
    return re.sub(r"[\s_]+", " ", str(name)).strip().lower()


def match_tree(path: str | os.PathLike, features: pd.DataFrame) -> Phylogeny:
    """Read a Newick tree and match its tips to the features (by ID, else by name).

    ``features`` is indexed by feature ID with a ``name`` column. A lineage string matches a tip
    by its last named part (``...;g__Bacteroides`` -> ``Bacteroides``). The tree is sheared to the
    matched tips. InputError when the file is not a Newick tree, has duplicate tips, lacks branch
    lengths, or shares no taxon with the table.
    """
    from skbio import TreeNode

    path = os.fspath(path)
    try:
        tree = TreeNode.read(path, format="newick")
    except FileNotFoundError as exc:
        raise InputError("tree file not found", file=path) from exc
    except Exception as exc:  # scikit-bio's Newick parser raises several types
        raise InputError(f"not a Newick tree: {exc}", file=path) from exc
    tip_names = [t.name for t in tree.tips()]
    by_key: dict[str, str] = {}
    for name in tip_names:
        if name is None:
            continue
        key = _key(name)
        if key in by_key:
            raise InputError(f"tip {name!r} appears more than once", file=path)
        by_key[key] = name
    tips = []
    for feature, row in features.iterrows():
        candidates = [feature, row.get("name", "")]
        lineage = str(feature)
        if ";" in lineage:
            named = [p.split("__", 1)[-1] for p in lineage.split(";") if p.split("__", 1)[-1]]
            candidates.append(named[-1] if named else "")
        tip = next((by_key[_key(c)] for c in candidates if c and _key(c) in by_key), None)
        tips.append(tip)
    matched = sorted({t for t in tips if t is not None})
    if not matched:
        raise InputError(
            f"none of the {len(features)} taxa of the table is a tip of the tree (tips look like"
            f" {tip_names[:3]}, taxa like {list(features.index[:3])})",
            file=path,
        )
    if len(matched) < len([t for t in tips if t is not None]):
        raise InputError("several taxa of the table match the same tip", file=path)
    if len(matched) < len(tip_names):
        tree = tree.shear(matched)
    tree.prune()
    missing = [n for n in tree.postorder(include_self=False) if n.length is None]
    if missing:
        raise InputError("UniFrac needs a branch length on every branch of the tree", file=path)
    log.info("tree %s: %d of %d taxa of the table match its tips", path, len(matched), len(tips))
    return Phylogeny(tree, tips, len(matched), len(tips))


def sketch_distances(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """``1 - Jaccard`` between FracMinHash sketches (one per sample, named by sample ID)."""
    from microbiome.kmer.sketch import compare_files

    return 1.0 - compare_files(paths).jaccard
