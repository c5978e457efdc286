"""Golden snapshots: every table the demo run writes (profiles in Kraken-style, CAMI and TSV form,
the cohort tables and the BIOM table's contents, diversity, integrate, report indices, QC and
read statistics) equals the copy in test_data/golden/, so that a refactor that changes a result
is seen. Numbers are compared to a relative 1e-6 (other BLAS builds round differently),
principal coordinates up to each axis' sign (an eigenvector's sign is arbitrary), everything
else exactly.

After a change that alters results on purpose, regenerate and review the difference:

    MICROBIOME_REGENERATE_GOLDEN=1 bash scripts/test.sh tests/workflow/test_golden.py
    git diff --stat test_data/golden
"""

from __future__ import annotations

import difflib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, TEST_DATA
from workflow_helpers import shared_demo_run

GOLDEN = TEST_DATA / "golden"
#: The run's outputs that are snapshotted (globs under the run's folder). Not JSON (versions,
#: dates, paths), figures or binary files; the BIOM table as its dumped contents.
SNAPSHOTS = (
    "results/stats/read_stats.tsv",
    "results/qc/qc_summary.tsv",
    "results/profile/*.kreport",
    "results/profile/*.cami",
    "results/profile/*.tsv",
    "results/tables/*.tsv",
    "results/diversity/*.tsv",
    "results/diversity/*/*.tsv",
    "results/integrate/*.tsv",
    "results/integrate/*/*.tsv",
    "results/report/*.tsv",
)
BIOM = "results/tables/profiles.biom"
REGENERATE = os.environ.get("MICROBIOME_REGENERATE_GOLDEN") == "1"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    return shared_demo_run(tmp_path_factory)


def snapshots(work: Path) -> dict[str, str]:
    """Relative path -> text of every snapshotted output of the run in ``work``, the
    repository's path written as ``<repo>`` (the read statistics name their input files)."""
    texts = {
        str(path.relative_to(work)): path.read_text().replace(str(ROOT), "<repo>")
        for pattern in SNAPSHOTS
        for path in sorted(work.glob(pattern))
    }
    from biom import load_table

    texts[BIOM + ".tsv"] = load_table(str(work / BIOM)).to_tsv()
    return texts


def differences(name: str, got: str, expected: str) -> str | None:
    """Why ``got`` is not ``expected`` (None when equal within the tolerances)."""
    if got == expected:
        return None
    if not name.endswith(".tsv"):
        diff = difflib.unified_diff(
            expected.splitlines(), got.splitlines(), "golden", "got", lineterm=""
        )
        return "text differs:\n" + "\n".join(list(diff)[2:12])
    try:
        a = pd.read_csv(io.StringIO(got), sep="\t", dtype=str, keep_default_na=False)
        b = pd.read_csv(io.StringIO(expected), sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        return f"not a table: {exc}"
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return (
            f"columns or shape differ: {list(a.columns)} {a.shape} vs {list(b.columns)} {b.shape}"
        )
    for column in a.columns:
        x, y = pd.to_numeric(a[column], errors="coerce"), pd.to_numeric(b[column], errors="coerce")
        numeric = x.notna() & y.notna()
        if not (a.loc[~numeric, column] == b.loc[~numeric, column]).all():
            return f"column {column} differs"
        x, y = x[numeric].to_numpy(float), y[numeric].to_numpy(float)
        if "/pcoa/" in name and column.startswith("PC") and np.dot(x, y) < 0:
            y = -y  # the axis flipped
        if not np.allclose(x, y, rtol=1e-6, atol=1e-12, equal_nan=True):
            worst = np.argmax(np.abs(x - y))
            return f"column {column}: {x[worst]!r} vs {y[worst]!r}"
    return None


@pytest.mark.slow
def test_demo_outputs_equal_the_golden_snapshots(demo_run):
    got = snapshots(demo_run)
    if REGENERATE:
        for old in GOLDEN.rglob("*"):
            if old.is_file() and old.name != "README.md":
                old.unlink()
        for name, text in got.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text)
        pytest.skip(f"regenerated {len(got)} snapshots in {GOLDEN}: review `git diff`")
    expected = {
        str(path.relative_to(GOLDEN)): path.read_text()
        for path in GOLDEN.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert sorted(got) == sorted(expected), "outputs appeared or went: regenerate and review"
    problems = [
        f"{name}: {why}"
        for name in sorted(got)
        if (why := differences(name, got[name], expected[name])) is not None
    ]
    assert not problems, "outputs differ from test_data/golden:\n" + "\n".join(problems)


def test_the_comparison_sees_a_changed_number_and_forgives_rounding_and_a_flipped_axis():
    table = "sample_id\tPC1\tp_value\nA\t0.5\t0.01\nB\t-0.25\t0.2\n"
    flipped = "sample_id\tPC1\tp_value\nA\t-0.5\t0.01\nB\t0.25\t0.2\n"
    assert differences("x/pcoa/m.coordinates.tsv", flipped, table) is None
    assert "PC1" in differences("x/tests/p.tsv", flipped, table)
    assert differences("x/tests/p.tsv", table.replace("0.01", "0.0100000001"), table) is None
    assert "p_value" in differences("x/tests/p.tsv", table.replace("0.01", "0.011"), table)
    assert differences("x.kreport", "a\n", "b\n") == "text differs:\n@@ -1 +1 @@\n-b\n+a"
    assert "shape" in differences("t.tsv", table + "C\t1\t1\n", table)
