"""The whole diversity analysis of ``microbiome diversity``: from a taxa table and a metadata
sheet to the output folder (tables, figures, parameters.json; layout in the module
:mod:`microbiome.diversity` and the README).

Nothing is dropped silently: zero-count samples, samples without metadata, metadata rows without
a sample, samples below the rarefaction depth and variables that cannot be tested are listed in
``excluded.tsv`` / ``tests/skipped_variables.tsv`` and in the log.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.config import check_settings, section_defaults
from microbiome.diversity import alpha as alpha_mod
from microbiome.diversity import beta, plots, stats
from microbiome.errors import ConfigError, InputError
from microbiome.io.atomic import atomic_path, write_text_atomic
from microbiome.multiple_testing import bh
from microbiome.progress import Progress
from microbiome.status import EXCLUDED_NOTE, left_out

log = logging.getLogger(__name__)

#: The schema's defaults of the config's diversity section.
_DEFAULTS = section_defaults("diversity")
PERMANOVA_COLUMNS = [
    "metric",
    "variable",
    "n_samples",
    "n_groups",
    "pseudo_f",
    "r2",
    "p_value",
    "permutations",
    "q_value",
    "note",
    "permutation_scheme",
    "distances_of",
]
PERMDISP_COLUMNS = [
    "metric",
    "variable",
    "n_samples",
    "n_groups",
    "f_statistic",
    "p_value",
    "permutations",
    "q_value",
    "note",
    "permutation_scheme",
    "distances_of",
]
ALPHA_TEST_COLUMNS = [
    "metric",
    "variable",
    "variable_type",
    "test",
    "statistic",
    "n_samples",
    "p_value",
    "q_value",
    "alpha_source",
    "note",
    "n_patients",
]


@dataclass(frozen=True)
class DiversityOptions:
    """Parameters of the analysis (echoed in ``parameters.json``).

    ``variables`` None means every metadata column but the patient ID; ``rarefaction_depth`` 0
    means no rarefaction; ``rarefaction_curves`` False draws no curves (no table, no figure);
    ``rarefaction_max_depth`` caps the curves' depths, 0 for the automatic cap
    (:func:`microbiome.diversity.alpha.curve_max_depth`); ``rank`` None keeps the table's features
    as they are; ``figures`` False writes the tables only. The other fields are the keys of the
    same name in the config's ``diversity:`` section, whose schema gives their defaults and
    ranges.
    """

    metrics: Sequence[str] = tuple(_DEFAULTS["metrics"])
    variables: Sequence[str] | None = None
    pseudocount: float = _DEFAULTS["pseudocount"]
    rarefaction_depth: int = _DEFAULTS["rarefaction_depth"]
    rarefaction_repeats: int = _DEFAULTS["rarefaction_repeats"]
    rarefaction_steps: int = _DEFAULTS["rarefaction_steps"]
    rarefaction_curves: bool = _DEFAULTS["rarefaction_curves"]
    rarefaction_max_depth: int = _DEFAULTS["rarefaction_max_depth"]
    permutations: int = _DEFAULTS["permutations"]
    seed: int = _DEFAULTS["seed"]
    missing: str = _DEFAULTS["missing"]
    rank: str | None = None
    tree: str | None = None
    sketches: Sequence[str] = field(default_factory=tuple)
    figures: bool = True

    def check(self) -> None:
        """ConfigError or ValidationErrors for a field out of the schema's range (names and
        ranges of the config's diversity section), an unknown metric or UniFrac without a
        tree."""
        check_settings(self, "diversity")
        beta.check_metrics(self.metrics, tree=bool(self.tree))


@dataclass
class _Variable:
    name: str
    type: str
    values: pd.Series | None  # the samples with a value (dates as days); None when skipped
    note: str = ""
    reason: str = ""  # why it is not tested


def safe_name(name: str) -> str:
    """A variable or metric name as a piece of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "variable"


def figures(
    metrics: Sequence[str], variables: Sequence[str], *, tree: bool, curves: bool = True
) -> list[tuple[str, str, str, str]]:
    """(file stem, kind, metric, variable) of every figure drawn for ``variables`` named
    explicitly: ``rarefaction`` (with ``curves``), ``pcoa_<metric>_<variable>``,
    ``alpha_<metric>_<variable>`` (kind ``rarefaction``, ``pcoa`` or ``alpha``). The workflow
    declares its outputs from this."""
    alpha = [*alpha_mod.ALPHA_METRICS, *(["faith_pd"] if tree else [])]
    out = [("rarefaction", "rarefaction", "", "")] if curves else []
    for variable in variables:
        stem = safe_name(variable)
        out += [(f"pcoa_{m}_{stem}", "pcoa", m, variable) for m in metrics]
        out += [(f"alpha_{c}_{stem}", "alpha", c, variable) for c in alpha]
    return out


def _write_tsv(path: Path, table: pd.DataFrame, *, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(
            tmp, sep="\t", index=index, na_rep="NA", float_format="%.10g", lineterminator="\n"
        )


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("microbiome", "scikit-bio", "numpy", "pandas", "scipy", "matplotlib"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def _prepare_variable(name: str, series: pd.Series, kind: str, missing: str) -> _Variable:
    n = len(series)
    present = series.dropna()
    n_missing = n - len(present)
    note = ""
    if len(present) < 2 and not (n_missing and missing == "skip"):
        return _Variable(name, kind, None, reason=f"{len(present)} sample(s) with a value")
    if n_missing:
        if missing == "skip":
            return _Variable(
                name, kind, None, reason=f"{n_missing} of {n} samples have no value (missing: skip)"
            )
        note = f"{n_missing} of {n} samples without a value left out"
    if kind == "date":
        present = (present - pd.Timestamp("1970-01-01")).dt.days.astype(float)
    if kind in stats.CATEGORICAL:
        order = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else []
        present = present.astype(str)
        levels = present.unique()
        order = [str(c) for c in order if str(c) in set(levels)] or sorted(levels)
        present = present.astype(pd.CategoricalDtype(order))
        if len(levels) < 2:
            only = f" ({levels[0]!r})" if len(levels) else ""
            return _Variable(name, kind, None, note, f"a single level{only} among the samples")
        if len(levels) == len(present):
            return _Variable(name, kind, None, note, "every sample has a level of its own")
    else:
        present = present.astype(float)
        if len(present) < 3:
            return _Variable(name, kind, None, note, "fewer than 3 samples with a value")
        if present.nunique() < 2:
            return _Variable(name, kind, None, note, "the same value in every sample")
    return _Variable(name, kind, present, note)


def _pcoa(dm) -> tuple[pd.DataFrame, pd.DataFrame]:
    from skbio.stats.ordination import pcoa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # negative eigenvalues (non-Euclidean)
        result = pcoa(dm)
    eig = result.eigvals.to_numpy()
    keep = max(int((eig > 1e-12 * max(eig.max(), 1e-300)).sum()), min(2, len(eig)))
    axes = list(result.samples.columns[:keep])
    coords = result.samples[axes].copy()
    coords.index = pd.Index(dm.ids, name="sample_id")
    variance = pd.DataFrame(
        {
            "axis": axes,
            "eigenvalue": result.eigvals.to_numpy()[:keep],
            "proportion_explained": result.proportion_explained.to_numpy()[:keep],
        }
    )
    return coords, variance


def _write_distances(path: Path, dm) -> None:
    frame = pd.DataFrame(dm.data, index=pd.Index(dm.ids, name="sample_id"), columns=dm.ids)
    _write_tsv(path, frame, index=True)


def run_diversity(
    table,
    metadata,
    outdir: str | os.PathLike,
    options: DiversityOptions,
    *,
    exclude: Mapping[str, str] | None = None,
) -> dict:
    """Run the analysis and write everything into ``outdir``.

    Parameters
    ----------
    table : microbiome.io.feature_table.FeatureTable
    metadata : microbiome.io.metadata.Metadata or None
        Without it, only alpha and beta diversity and the ordinations are written (the tests
        tables have their header only).
    options : DiversityOptions
    exclude : mapping of str to str, optional
        Sample ID -> reason (:func:`microbiome.status.read_exclusions`): these samples
        are left out of every analysis and listed in ``excluded.tsv`` with the reason.

    Returns
    -------
    dict with the numbers of the run (samples, features, excluded, tests).
    """
    from skbio import DistanceMatrix

    options.check()
    exclude = dict(exclude or {})
    out = Path(outdir)
    rng = np.random.default_rng(options.seed)
    excluded: list[tuple[str, str]] = []

    if options.rank:
        table = table.at_rank(options.rank)
    if dropped := left_out(table.samples, exclude, file=table.path):
        table = table.select_samples([s for s in table.samples if s not in dropped])
        excluded += [(s, f"{EXCLUDED_NOTE}: {exclude[s]}") for s in dropped]
    all_samples = table.data.index
    table, empty = table.without_empty_samples()
    for sample in empty:
        excluded.append((sample, "all counts are zero: left out of every analysis"))
        log.warning("%s: sample %s has no counts: left out", table.path, sample)
    data = table.data.loc[:, table.data.sum(axis=0) > 0]
    features = table.features.loc[data.columns]
    if data.empty:
        raise InputError("no sample has any counts: nothing to analyse", file=table.path)
    if len(data) < 2:
        log.warning(
            "%s: only one sample with counts: no beta diversity, ordination or tests", table.path
        )
    log.info("%s: %d samples, %d taxa", table.path, len(data), data.shape[1])

    # Metadata: which variables, on which samples.
    variables: list[_Variable] = []
    patients: pd.Series | None = None  # sample ID -> patient ID of the samples with metadata
    explicit = options.variables is not None
    if metadata is not None:
        match = metadata.match(all_samples)
        without = [s for s in match.only_in_data if s not in empty]
        for sample in without:
            excluded.append((sample, "no row in the metadata: left out of the tests"))
        in_metadata_only = [s for s in match.only_in_metadata if s not in exclude]
        for sample in in_metadata_only:
            excluded.append((sample, "in the metadata but not in the table"))
        if without:
            log.warning(
                "%d samples of the table have no metadata row (left out of the tests): %s",
                len(without),
                ", ".join(without),
            )
        if in_metadata_only:
            log.warning(
                "%d metadata rows match no sample of the table: %s",
                len(in_metadata_only),
                ", ".join(in_metadata_only),
            )
        names = list(options.variables) if explicit else list(metadata.types)
        unknown = [v for v in names if v not in metadata.types]
        if unknown:
            raise ConfigError(
                f"variable {unknown[0]!r} is not a column of the metadata sheet "
                f"{metadata.path} (columns: {', '.join(metadata.types)})"
            )
        tested = match.table.loc[[s for s in match.table.index if s in data.index]]
        patients = tested["patient_id"].astype(str)
        for name in names:
            variable = _prepare_variable(name, tested[name], metadata.types[name], options.missing)
            if variable.reason:
                log.warning("variable %s not tested: %s", name, variable.reason)
            variables.append(variable)
    elif explicit and options.variables:
        raise ConfigError("variables to test were given but no metadata sheet")

    if table.relative and "aitchison" in options.metrics:
        smallest = float(data.to_numpy()[data.to_numpy() > 0].min())
        if options.pseudocount >= smallest:
            log.warning(
                "%s holds relative abundances: the pseudocount %g of the Aitchison distance is"
                " not small against its smallest value %g (give --pseudocount, e.g. %g)",
                table.path,
                options.pseudocount,
                smallest,
                smallest / 2,
            )
    phylogeny = beta.match_tree(options.tree, features) if options.tree else None
    phylo = phylogeny.as_tuple if phylogeny else None

    metrics = beta.check_metrics(options.metrics, tree=bool(options.tree))
    progress = Progress(
        "diversity",
        total=2 + len(metrics) + bool(options.sketches) + len(variables) + options.figures,
        unit="steps",
    )
    # Alpha diversity.
    alpha = alpha_mod.alpha_table(data, relative=table.relative, phylogeny=phylo)
    _write_tsv(out / "alpha.tsv", alpha.rename_axis("sample_id").reset_index())
    alpha_source, tested_alpha = "all", alpha
    depth = options.rarefaction_depth
    if depth and table.relative:
        log.warning("%s holds relative abundances: no rarefaction", table.path)
        depth = 0
    if depth:
        rarefied = alpha_mod.rarefied_alpha(
            data, depth, repeats=options.rarefaction_repeats, rng=rng, phylogeny=phylo
        )
        for sample in data.index.difference(rarefied.index, sort=False):
            excluded.append(
                (
                    sample,
                    f"{alpha.at[sample, 'depth']:g} counts, below the rarefaction depth "
                    f"{depth}: not in alpha.rarefied.tsv",
                )
            )
            log.warning("sample %s is below the rarefaction depth %d", sample, depth)
        _write_tsv(out / "alpha.rarefied.tsv", rarefied.rename_axis("sample_id").reset_index())
        alpha_source, tested_alpha = "rarefied", rarefied
    curves_depth = None  # the curves' deepest point
    curves = pd.DataFrame(columns=["sample_id", "depth", "observed_mean"])
    if options.rarefaction_curves and not table.relative:
        curves_depth = options.rarefaction_max_depth or alpha_mod.curve_max_depth(
            data.sum(axis=1).to_numpy(), depth
        )
        curves = alpha_mod.rarefaction_curves(
            data,
            steps=options.rarefaction_steps,
            repeats=options.rarefaction_repeats,
            rng=rng,
            max_depth=curves_depth,
        )
        _write_tsv(out / "alpha.rarefaction_curves.tsv", curves)
    if options.figures and options.rarefaction_curves:
        plots.rarefaction_figure(
            curves,
            depth=depth,
            note="relative abundances: no rarefaction" if table.relative else "",
            stem=out / "figures" / "rarefaction",
        )
    progress.update()  # alpha diversity and rarefaction

    # Beta diversity and ordination.
    matrices = {}  # None: fewer than 2 samples
    for metric in metrics:
        matrices[metric] = (
            beta.distance_matrix(metric, data, pseudocount=options.pseudocount, phylogeny=phylo)
            if len(data) >= 2
            else None
        )
        progress.update()
    if options.sketches:
        kmer = beta.sketch_distances(options.sketches)
        shared = [s for s in kmer.index if s in data.index]
        for sample in kmer.index.difference(data.index, sort=False):
            if sample not in exclude:
                excluded.append((sample, "k-mer sketch of a sample not analysed in the table"))
        kmer = kmer.loc[shared, shared]
        matrices[beta.SKETCH_METRIC] = (
            DistanceMatrix((kmer.to_numpy() + kmer.to_numpy().T) / 2, ids=shared)
            if len(shared) >= 2
            else None
        )
        if len(shared) < 2:
            log.warning(
                "fewer than 2 k-mer sketches are named after analysed samples of the table"
                " (sketch names: %s): no kmer_jaccard distances",
                ", ".join(kmer.index[:5]),
            )
        progress.update()
    ordinations = {}
    for metric, dm in matrices.items():
        if dm is None:
            ids = pd.Index(data.index[:1] if metric != beta.SKETCH_METRIC else [], name="sample_id")
            dm = pd.DataFrame(0.0, index=ids, columns=ids)
            _write_tsv(out / "beta" / f"{metric}.distances.tsv", dm, index=True)
            coords = pd.DataFrame({"PC1": np.nan}, index=ids)
            variance = pd.DataFrame(columns=["axis", "eigenvalue", "proportion_explained"])
        else:
            _write_distances(out / "beta" / f"{metric}.distances.tsv", dm)
            coords, variance = _pcoa(dm)
        ordinations[metric] = (coords, variance)
        _write_tsv(out / "pcoa" / f"{metric}.coordinates.tsv", coords.reset_index())
        _write_tsv(out / "pcoa" / f"{metric}.variance.tsv", variance)
    progress.update()  # ordinations

    # Tests against the metadata.
    permanova_rows, permdisp_rows, alpha_rows, skipped = [], [], [], []
    alpha_columns = [c for c in tested_alpha.columns if c not in ("depth", "rarefaction_depth")]
    for variable in variables:
        progress.update()
        if variable.values is None:
            skipped.append(
                {
                    "variable": variable.name,
                    "variable_type": variable.type,
                    "reason": variable.reason,
                }
            )
            continue
        if variable.type in stats.CATEGORICAL:
            for metric, dm in matrices.items():
                if dm is None:
                    continue
                groups = variable.values[variable.values.index.isin(dm.ids)]
                common = {
                    "metric": metric,
                    "variable": variable.name,
                    "distances_of": beta.DISTANCES_OF[metric],
                }
                if groups.nunique() < 2 or groups.nunique() == len(groups):
                    continue
                for rows, test in (
                    (permanova_rows, stats.permanova),
                    (permdisp_rows, stats.permdisp),
                ):
                    try:
                        result = test(
                            dm,
                            groups,
                            permutations=options.permutations,
                            seed=options.seed,
                            patients=patients,
                        )
                    except ValueError as exc:  # scikit-bio refuses the grouping
                        log.warning("%s of %s by %s: %s", test.__name__, metric, variable.name, exc)
                        result = {"n_samples": len(groups), "n_groups": groups.nunique()}
                        result["note"] = f"not run: {exc}"
                    note = "; ".join(filter(None, [variable.note, result.pop("note", "")]))
                    rows.append(common | result | {"note": note})
        for column in alpha_columns:
            values = tested_alpha[column].reindex(variable.values.index).dropna()
            x = variable.values.loc[values.index]
            if len(values) < 3:
                continue
            result = stats.alpha_test(values, x, variable.type, patients)
            note = "; ".join(filter(None, [variable.note, result.pop("note", "")]))
            alpha_rows.append(
                {
                    "metric": column,
                    "variable": variable.name,
                    "variable_type": variable.type,
                    **result,
                    "alpha_source": alpha_source,
                    "note": note,
                }
            )
    tables = {
        "permanova.tsv": (permanova_rows, PERMANOVA_COLUMNS),
        "permdisp.tsv": (permdisp_rows, PERMDISP_COLUMNS),
        "alpha_tests.tsv": (alpha_rows, ALPHA_TEST_COLUMNS),
    }
    for name, (rows, columns) in tables.items():
        frame = pd.DataFrame(rows, columns=columns)
        frame["q_value"] = bh(frame["p_value"])
        _write_tsv(out / "tests" / name, frame)
    _write_tsv(
        out / "tests" / "skipped_variables.tsv",
        pd.DataFrame(skipped, columns=["variable", "variable_type", "reason"]),
    )
    _write_tsv(out / "excluded.tsv", pd.DataFrame(excluded, columns=["sample_id", "reason"]))

    # Figures: every variable asked for by name, else every variable tested.
    labels = {c: c for c in alpha_columns} | {
        "shannon_ln": "Shannon (natural log)",
        "simpson": "Gini-Simpson (1 - sum p²)",
        "pielou_evenness": "Pielou evenness (ln)",
    }
    drawn = {v.name: v for v in variables if v.values is not None or explicit}
    series: dict[str, pd.Series] = {}
    for variable in drawn.values():
        if variable.values is not None:
            series[variable.name] = variable.values.reindex(data.index).rename(variable.name)
        elif variable.type == "date":
            series[variable.name] = pd.Series(np.nan, index=data.index, name=variable.name)
        else:
            series[variable.name] = metadata.table[variable.name].reindex(data.index)
    planned = figures(
        list(ordinations),
        list(drawn),
        tree=phylogeny is not None,
        curves=options.rarefaction_curves,
    )
    for stem, kind, metric, name in planned if options.figures else []:
        if kind == "rarefaction":
            continue  # drawn with the curves
        variable = drawn[name]
        note = f"not tested: {variable.reason}" if variable.reason else variable.note
        if kind == "pcoa":
            coords, variance = ordinations[metric]
            plots.pcoa_figure(
                coords,
                variance,
                series[name],
                variable.type,
                metric=metric,
                note=note,
                stem=out / "figures" / stem,
            )
        else:
            plots.alpha_figure(
                tested_alpha[metric].rename(metric),
                series[name],
                variable.type,
                label=labels.get(metric, metric) + (" (rarefied)" if depth else ""),
                note=note,
                stem=out / "figures" / stem,
            )

    if options.figures:
        progress.update()
    progress.close()
    summary = {
        "n_samples": int(len(data)),
        "n_features": int(data.shape[1]),
        "n_excluded": len(excluded),
        "variables_tested": [v.name for v in variables if v.values is not None],
        "variables_skipped": {v.name: v.reason for v in variables if v.values is None},
        "tree_tips_matched": phylogeny.n_matched if phylogeny else None,
        "tree_features": phylogeny.n_features if phylogeny else None,
    }
    parameters = {
        "table": table.path,
        "table_format": table.format,
        "table_relative": table.relative,
        "metadata": metadata.path if metadata is not None else None,
        "options": asdict(options) | {"sketches": list(options.sketches)},
        "alpha": {
            "shannon_log_base": "e (natural log)",
            "simpson": "Gini-Simpson 1 - sum p^2",
            "chao1": "bias-corrected, on counts rounded to integers",
            "tested_values": alpha_source,
            "rarefaction_curves": (
                f"up to {curves_depth} counts (each sample up to its own depth)"
                if curves_depth
                else "not drawn"
            ),
        },
        "beta": {
            "braycurtis": "on relative abundances",
            "jaccard": "on presence/absence",
            "aitchison": f"Euclidean distance of clr(counts + {options.pseudocount})",
            "kmer_jaccard": "1 - Jaccard of FracMinHash sketches",
        },
        "tests": {
            "permanova_distances": (
                "the beta distances above, never raw counts: Bray-Curtis on relative abundances"
                " (each sample scaled to 1), so that sequencing depth does not weigh"
            ),
            "permanova_r2": "F (g - 1) / (F (g - 1) + (n - g))",
            "permdisp": "distances to group spatial medians (scikit-bio test='median')",
            "alpha": "Mann-Whitney U (2 groups), Kruskal-Wallis (> 2), Spearman (continuous)",
            "repeated_patients": (
                "when a patient has several of the samples tested: PERMANOVA/PERMDISP"
                " permutations move a patient-level variable's labels with whole patients"
                " ('patients as blocks') or shuffle a varying variable's labels only within"
                " patients ('within patients'); alpha is tested on patient means for a"
                " patient-level variable, by a linear mixed model with a random intercept per"
                " patient (statsmodels MixedLM) otherwise"
            ),
            "q_value": "Benjamini-Hochberg over all rows of each tests table",
        },
        "summary": summary,
        "versions": _versions(),
    }
    write_text_atomic(out / "parameters.json", json.dumps(parameters, indent=2, default=str) + "\n")
    return summary
