"""Numba kernels of the taxonomy: LCA and ancestry on node-index arrays.

Twins in tests/naive.py (``# --- taxonomy and classification ---``). A taxonomy is two arrays:
``parents`` (int32, index of each node's parent, ``parents[0] == 0`` for the root) and
``depth`` (int32, 0 for the root). Node indices, never external taxids, go in and out.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def lca(parents, depth, a, b):
    """Lowest common ancestor of nodes ``a`` and ``b``; a negative node stands for "no node"
    and returns the other one (so ``lca(-1, x) == x``)."""
    if a < 0:
        return b
    if b < 0:
        return a
    while depth[a] > depth[b]:
        a = parents[a]
    while depth[b] > depth[a]:
        b = parents[b]
    while a != b:
        a = parents[a]
        b = parents[b]
    return a


@numba.njit(cache=True, nogil=True)
def is_ancestor(parents, depth, a, b):
    """True if node ``a`` is node ``b`` or one of its ancestors."""
    while depth[b] > depth[a]:
        b = parents[b]
    return a == b


@numba.njit(cache=True, nogil=True)
def compute_depth(parents, out):
    """Depth of every node into ``out`` (int32); nodes must come after their parents
    (``parents[i] < i`` for ``i > 0``), the order :class:`~microbiome.taxonomy.Taxonomy` keeps."""
    out[0] = 0
    for i in range(1, parents.shape[0]):
        out[i] = out[parents[i]] + 1
