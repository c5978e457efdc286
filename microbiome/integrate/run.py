"""``microbiome integrate`` end to end: read, link, transform, test, model, write.

Outputs (the contract with the report stage), in ``outdir``:

* ``join_report.tsv``; ``skipped.tsv`` (analysis, item, reason: what could not be done, why);
* ``associations.tsv``, ``correlations.tsv``;
* ``biomarkers/performance.tsv``, ``predictions.tsv``, ``importance.tsv``, ``model.joblib``,
  ``model.json``;
* ``figures/`` volcano, associations_heatmap, correlations_heatmap, roc (SVG and PNG);
* ``harmonised/``: tidy tables (TSV and Parquet each) and ``multiomics.biom``;
* ``parameters.json``: every parameter and the library versions.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError
from microbiome.integrate import biomarkers as bm
from microbiome.io.atomic import atomic_path, write_text_atomic
from microbiome.multiple_testing import bh
from microbiome.reproducible import source_date

log = logging.getLogger("microbiome")


@dataclass(frozen=True)
class Settings:
    """Every parameter of an integration run (the config's ``integrate:`` section)."""

    rank: str = ""
    taxa_orientation: str = "auto"
    metabolite_orientation: str = "auto"
    metabolite_transform: str = "auto"
    prevalence: float = 0.1
    min_abundance: float = 1e-4
    pseudocount: float = 0.5
    variables: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    q_threshold: float = 0.1
    heatmap_features: int = 30
    heatmap_pairs: int = 40
    outcome: str = ""
    positive: tuple[str, ...] = ()
    biomarkers: bm.Settings = field(default_factory=bm.Settings)

    @classmethod
    def from_config(cls, section: Mapping) -> Settings:
        """From the ``integrate:`` section of a validated config."""
        models = section.get("biomarkers", {})
        keys = set(cls.__dataclass_fields__) - {"biomarkers"}
        top = {k: section[k] for k in keys if k in section}
        top |= {k: models[k] for k in ("outcome", "positive") if k in models}
        inner = {k: models[k] for k in bm.Settings.__dataclass_fields__ if k in models}
        if "threads" in section:
            inner["threads"] = section["threads"]
        for target, k in ((top, "variables"), (top, "covariates"), (top, "positive"),
                          (inner, "models")):  # fmt: skip
            if k in target:
                target[k] = tuple(target[k])
        return cls(**top, biomarkers=bm.Settings(**inner))


def _write_tsv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(
            tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g", lineterminator="\n"
        )


def _write_parquet(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def versions() -> dict[str, str]:
    import matplotlib
    import scipy
    import sklearn
    import statsmodels

    from microbiome import __version__

    return {
        "microbiome": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "scikit-learn": sklearn.__version__,
        "matplotlib": matplotlib.__version__,
    }


def run_integrate(
    *,
    metadata_path: str | os.PathLike,
    outdir: str | os.PathLike,
    settings: Settings,
    taxa_path: str | os.PathLike | None = None,
    taxa_format: str | None = None,
    metabolites_path: str | os.PathLike | None = None,
    annotation_path: str | os.PathLike | None = None,
    variable_types: Mapping[str, Mapping] | None = None,
    sample_column: str | None = None,
    patient_column: str | None = None,
    exclude: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Run the whole integration and write every output into ``outdir``.

    ``exclude`` (sample ID -> reason, :func:`microbiome.status.read_exclusions`) leaves
    those samples out of every analysis; ``join_report.tsv`` lists them with the reason.

    Raises
    ------
    ConfigError
        Nothing to link (neither taxa nor metabolites), unknown variables or outcome.
    InputError
        Bad input tables (from the readers) or IDs that match nothing.
    """
    from microbiome.figures import save as save_figure
    from microbiome.integrate import figures
    from microbiome.integrate.associations import associate
    from microbiome.integrate.correlations import spearman_pairs
    from microbiome.integrate.link import link
    from microbiome.integrate.tables import read_metabolite_table
    from microbiome.integrate.transforms import (
        abundance_filter,
        clr,
        metabolite_floors,
        metabolite_log,
        resolve_metabolite_transform,
        taxa_pseudocount,
    )
    from microbiome.io.feature_table import read_feature_table
    from microbiome.io.metadata import read_metadata

    if taxa_path is None and metabolites_path is None:
        raise ConfigError("give a taxa table, a metabolite table or both: nothing to link")
    outdir = Path(outdir)
    meta = read_metadata(
        metadata_path, variable_types, sample_column=sample_column, patient_column=patient_column
    )
    ids = set(meta.table.index)
    taxa = metabolites = None
    if taxa_path is not None:
        taxa = read_feature_table(
            taxa_path, orientation=settings.taxa_orientation, format=taxa_format, sample_ids=ids
        )
        if settings.rank:
            taxa = taxa.at_rank(settings.rank)
    if metabolites_path is not None:
        metabolites = read_metabolite_table(
            metabolites_path,
            orientation=settings.metabolite_orientation,
            annotation=annotation_path,
            sample_ids=ids,
        )
    linked = link(
        meta.table,
        meta.types,
        taxa=taxa,
        metabolites=metabolites,
        exclude=exclude,
        metadata_path=os.fspath(metadata_path),
    )
    _check_variables(settings, linked.metadata)
    created = source_date([metadata_path, taxa_path, metabolites_path, annotation_path])

    written: dict[str, Path] = {}
    skipped: list[tuple[str, str, str]] = []
    written["join_report"] = outdir / "join_report.tsv"
    _write_tsv(written["join_report"], linked.join_report)

    transformed: dict[str, pd.DataFrame] = {}
    observed: dict[str, pd.DataFrame] = {}
    used: dict[str, object] = {}
    if linked.taxa is not None:
        kept = abundance_filter(
            linked.taxa, prevalence=settings.prevalence, min_abundance=settings.min_abundance
        )
        pc = taxa_pseudocount(linked.taxa, settings.pseudocount, linked.taxa_relative)
        used.update(taxa_pseudocount_used=pc, taxa_kept=len(kept), taxa_total=linked.taxa.shape[1])
        log.info("taxa: %d of %d pass the filters", len(kept), linked.taxa.shape[1])
        if len(kept):
            # Filter, then the CLR over the kept taxa only, as in the biomarker pipelines.
            transformed["taxon"] = clr(linked.taxa[kept], pc)
            observed["taxon"] = linked.taxa[kept] > 0
        else:
            skipped.append(("taxa", "filters", "no taxon passes the prevalence/abundance filters"))
    mtb_kind = None
    if linked.metabolites is not None:
        mtb_kind = resolve_metabolite_transform(linked.metabolites, settings.metabolite_transform)
        floors = metabolite_floors(linked.metabolites, mtb_kind)
        transformed["metabolite"] = metabolite_log(linked.metabolites, mtb_kind, floors)
        observed["metabolite"] = linked.metabolites.notna() & (
            linked.metabolites > 0 if mtb_kind == "log" else True
        )
        used["metabolite_transform_used"] = mtb_kind
        if mtb_kind == "none":
            log.info("metabolites: negative values, taken as log-scale already (not logged again)")

    # Associations
    variables = list(settings.variables) or ([settings.outcome] if settings.outcome else [])
    references = {}
    if settings.outcome:  # the outcome's effects are relative to its (first) negative level
        negative = bm.binary_outcome(linked.metadata, settings.outcome, settings.positive).negative
        references = {settings.outcome: negative[0]} if negative else {}
    parts = []
    for ftype, table in transformed.items():
        part, skips = associate(
            table,
            observed[ftype],
            linked.metadata,
            linked.types,
            variables=variables,
            covariates=settings.covariates,
            feature_type=ftype,
            references=references,
        )
        parts.append(part)
        skipped += [("associations", f"{ftype} ~ {v}", why) for v, why in skips]
    associations = pd.concat(parts, ignore_index=True) if parts else None
    if associations is not None:
        associations["q_value"] = bh(associations["p_value"])
        associations["name"] = _names(associations["feature"], associations["feature_type"], linked)
        associations = associations.sort_values(
            ["q_value", "p_value"], na_position="last", kind="mergesort"
        ).reset_index(drop=True)
        written["associations"] = outdir / "associations.tsv"
        _write_tsv(written["associations"], associations)
        save_figure(figures.volcano(associations, settings.q_threshold), outdir / "figures/volcano")
        save_figure(
            figures.association_heatmap(
                associations, settings.q_threshold, settings.heatmap_features
            ),
            outdir / "figures/associations_heatmap",
        )

    # Correlations
    if "taxon" in transformed and "metabolite" in transformed:
        correlations = spearman_pairs(
            transformed["taxon"], transformed["metabolite"], linked.metadata["patient_id"]
        )
        correlations.insert(
            correlations.columns.get_loc("n") + 1,
            "taxon_name",
            _names(correlations["taxon"], pd.Series("taxon", index=correlations.index), linked),
        )
        written["correlations"] = outdir / "correlations.tsv"
        _write_tsv(written["correlations"], correlations)
        save_figure(
            figures.correlation_heatmap(correlations, settings.q_threshold, settings.heatmap_pairs),
            outdir / "figures/correlations_heatmap",
        )
    else:
        skipped.append(
            ("correlations", "taxa x metabolites", "needs both a taxa and a metabolite table")
        )

    # Biomarkers
    bio_settings = bm.Settings(
        **{
            **asdict(settings.biomarkers),
            "prevalence": settings.prevalence,
            "min_abundance": settings.min_abundance,
            "pseudocount": used.get("taxa_pseudocount_used", settings.pseudocount),
            "metabolite_transform": mtb_kind or "log",
        }
    )
    if settings.outcome:
        written.update(_biomarkers(linked, settings, bio_settings, outdir, skipped))
    else:
        skipped.append(("biomarkers", "", "no outcome configured (integrate.biomarkers.outcome)"))

    written.update(_harmonised(linked, transformed, outdir, created))
    written["skipped"] = outdir / "skipped.tsv"
    _write_tsv(written["skipped"], pd.DataFrame(skipped, columns=["analysis", "item", "reason"]))
    for analysis, item, why in skipped:
        log.warning("%s %s skipped: %s", analysis, item, why)
    parameters = {
        "inputs": {
            "taxa": os.fspath(taxa_path) if taxa_path else None,
            "taxa_format": taxa.format if taxa is not None else None,
            "taxa_relative": linked.taxa_relative if taxa is not None else None,
            "metabolites": os.fspath(metabolites_path) if metabolites_path else None,
            "metabolite_annotation": os.fspath(annotation_path) if annotation_path else None,
            "metadata": os.fspath(metadata_path),
            "variable_types": linked.types,
            "excluded_samples": dict(exclude or {}),
        },
        "settings": {**asdict(settings), "biomarkers": asdict(bio_settings)},
        "derived": used,
        "versions": versions(),
    }
    written["parameters"] = outdir / "parameters.json"
    write_text_atomic(written["parameters"], json.dumps(parameters, indent=2, default=str) + "\n")
    return written


def _check_variables(settings: Settings, metadata: pd.DataFrame) -> None:
    for kind, names in (
        ("variable", settings.variables),
        ("covariate", settings.covariates),
        ("outcome", (settings.outcome,) if settings.outcome else ()),
    ):
        for name in names:
            if name not in metadata.columns or name == "patient_id":
                raise ConfigError(
                    f"{kind} {name!r} is not a column of the clinical sheet; columns: "
                    + ", ".join(c for c in metadata.columns if c != "patient_id")
                )


def _names(features: pd.Series, types: pd.Series, linked) -> list[str]:
    names = {}
    if linked.taxa_features is not None and "name" in linked.taxa_features:
        names = linked.taxa_features["name"].to_dict()
    return [
        str(names.get(f, f)) if t == "taxon" else str(f)
        for f, t in zip(features, types, strict=True)
    ]


def _biomarkers(linked, settings: Settings, bio: bm.Settings, outdir: Path, skipped) -> dict:
    import joblib

    from microbiome.figures import save as save_figure
    from microbiome.integrate import figures

    outcome = bm.binary_outcome(linked.metadata, settings.outcome, settings.positive)
    missing = linked.metadata.index[linked.metadata[settings.outcome].isna()]
    if len(missing):
        skipped.append(
            ("biomarkers", ", ".join(map(str, missing)), f"no value of {settings.outcome}")
        )
    sets: dict[str, pd.DataFrame] = {}
    taxa_cols = list(linked.taxa.columns) if linked.taxa is not None else []
    mtb_cols = list(linked.metabolites.columns) if linked.metabolites is not None else []
    if linked.taxa is not None:
        sets["taxa"] = linked.taxa
    if linked.metabolites is not None:
        sets["metabolites"] = linked.metabolites
    if linked.taxa is not None and linked.metabolites is not None:
        bm.check_feature_names(taxa_cols, mtb_cols)
        both = linked.taxa.index.intersection(linked.metabolites.index)
        sets["combined"] = pd.concat([linked.taxa.loc[both], linked.metabolites.loc[both]], axis=1)
    result = bm.evaluate(sets, taxa_cols, mtb_cols, outcome, linked.metadata["patient_id"], bio)
    skipped += [("biomarkers", item, why) for item, why in result.skipped]
    kinds = result.importance["feature"].map(lambda f: "taxon" if f in set(taxa_cols) else "")
    result.importance["name"] = _names(result.importance["feature"], kinds, linked)
    d = outdir / "biomarkers"
    written = {
        "performance": d / "performance.tsv",
        "predictions": d / "predictions.tsv",
        "importance": d / "importance.tsv",
        "model": d / "model.joblib",
        "model_json": d / "model.json",
    }
    _write_tsv(written["performance"], result.performance)
    _write_tsv(written["predictions"], result.predictions)
    _write_tsv(written["importance"], result.importance)
    save_figure(figures.roc(result.predictions, result.performance), outdir / "figures/roc")
    chosen = None
    if len(result.performance):
        best = result.performance.sort_values(
            ["auroc_mean", "feature_set"], ascending=[False, True], kind="mergesort"
        ).iloc[0]
        key = (best["feature_set"], best["model"])
        optimism = bm.selection_optimism(result.repeat_aurocs, key)
        chosen = {
            "feature_set": best["feature_set"],
            "model": best["model"],
            "key": f"{best['feature_set']}/{best['model']}",
            "auroc_mean": float(best["auroc_mean"]),
            "auroc_ci": [float(best["auroc_ci_low"]), float(best["auroc_ci_high"])],
            "permutation_p": float(best["permutation_p"]),
            "candidates": len(result.performance),
            "selection_optimism": optimism,
            "auroc_selection_corrected": float(best["auroc_mean"]) - optimism,
        }
    description = {
        "outcome": settings.outcome,
        "positive_class": list(outcome.positive),
        "negative_class": list(outcome.negative),
        "chosen": chosen,
        "taxa_rank": settings.rank,
        "models": sorted(result.models),
        "feature_names": result.feature_names,
        "auroc": "mean over repeats of the AUROC of each repeat's pooled out-of-fold probabilities",
        "auroc_ci": "95% percentile bootstrap over patients of that mean over repeats"
        f" ({bio.bootstrap} resamples; out-of-fold probabilities held fixed, models not refitted)",
        "permutation_p": "the reported AUROC against one cross-validation round per label"
        " permutation on the first repeat's splits (conservative: a single round varies more"
        " than a mean over repeats)"
        + (
            f"; draws stop once p > {bio.permutation_alpha} is settled (Besag and Clifford 1991)"
            if bio.permutation_alpha > 0
            else ""
        ),
        "selection": "the chosen model is the best mean AUROC of the candidates on the same"
        " cross-validation; selection_optimism is the mean over repeats of the best candidate's"
        " AUROC in that repeat minus the chosen one's (Tibshirani and Tibshirani 2009), and"
        " auroc_selection_corrected the chosen AUROC minus it",
        "usage": "joblib.load(path)['models'][chosen key].predict_proba("
        "table[feature_names[feature_set]])[:, 1] on raw values: taxa as read by"
        " read_feature_table and collapsed with .at_rank(taxa_rank) when taxa_rank is set,"
        " metabolites as read by read_metabolite_table; the pipeline transforms them",
        "versions": versions(),
    }
    with atomic_path(written["model"]) as tmp:
        joblib.dump({**description, "models": result.models}, tmp)
    write_text_atomic(written["model_json"], json.dumps(description, indent=2, default=str) + "\n")
    return written


def _tidy(values: pd.DataFrame, name: str, transformed: pd.DataFrame | None) -> pd.DataFrame:
    long = values.rename_axis(index="sample_id", columns="feature").stack(future_stack=True)
    out = long.rename("value").reset_index()
    if transformed is not None:
        t = transformed.rename_axis(index="sample_id", columns="feature").stack(future_stack=True)
        out = out.merge(t.rename(name).reset_index(), on=["sample_id", "feature"], how="left")
    return out


def _harmonised(
    linked, transformed: dict, outdir: Path, created: datetime.datetime
) -> dict[str, Path]:
    """Tidy tables (TSV + Parquet) and one BIOM of every feature with the sample metadata;
    ``created`` is the BIOM's creation date."""
    from biom import Table

    from microbiome.profile.merge import write_biom

    d = outdir / "harmonised"
    tables: dict[str, pd.DataFrame] = {}
    samples = linked.metadata.reset_index()
    for column in samples.columns:
        if isinstance(samples[column].dtype, pd.CategoricalDtype):
            samples[column] = samples[column].astype("string")
    tables["samples"] = samples.merge(
        linked.join_report[["sample_id", "has_taxa", "has_metabolites"]], on="sample_id", how="left"
    )
    feature_rows = []
    if linked.taxa is not None:
        tables["taxa"] = _tidy(linked.taxa, "clr", transformed.get("taxon"))
        f = linked.taxa_features.reindex(linked.taxa.columns).fillna("")
        for fid, row in f.iterrows():
            feature_rows.append(
                {
                    "feature": fid,
                    "feature_type": "taxon",
                    "name": row.get("name", ""),
                    "lineage": row.get("lineage", ""),
                    "taxid": row.get("taxid", ""),
                }
            )
    if linked.metabolites is not None:
        tables["metabolites"] = _tidy(
            linked.metabolites, "log_value", transformed.get("metabolite")
        )
        annotation = linked.metabolite_annotation
        for m in linked.metabolites.columns:
            extra = (
                annotation.loc[m].to_dict()
                if annotation is not None and m in annotation.index
                else {}
            )
            feature_rows.append({"feature": m, "feature_type": "metabolite", "name": m, **extra})
    tables["features"] = pd.DataFrame(feature_rows).fillna("")
    written = {}
    for name, table in tables.items():
        written[f"harmonised_{name}"] = d / f"{name}.tsv"
        _write_tsv(d / f"{name}.tsv", table)
        _write_parquet(d / f"{name}.parquet", table)
    # BIOM: observations = taxa (raw values) then metabolites (raw values, missing as 0).
    blocks = [b for b in (linked.taxa, linked.metabolites) if b is not None]
    wide = pd.concat(blocks, axis=1).reindex(linked.metadata.index)
    wide = wide.loc[wide.notna().any(axis=1)]
    features = tables["features"].set_index("feature")
    obs_meta = []
    for fid, ftype in zip(features.index, features["feature_type"], strict=True):
        lineage = features.at[fid, "lineage"] if "lineage" in features else ""
        obs_meta.append(
            {
                "feature_type": ftype,
                "name": str(features.at[fid, "name"]),
                "taxonomy": str(lineage).split(";") if ftype == "taxon" and lineage else [],
            }
        )
    sample_meta = []
    meta = tables["samples"].set_index("sample_id")
    for sample in wide.index:
        row = meta.loc[sample]
        sample_meta.append({k: ("NA" if pd.isna(v) else str(v)) for k, v in row.items()})
    biom_table = Table(
        wide.fillna(0.0).to_numpy(dtype=np.float64).T,
        [str(f) for f in wide.columns],
        [str(s) for s in wide.index],
        observation_metadata=obs_meta,
        sample_metadata=sample_meta,
        table_id="multiomics",
        type="Taxon table",
    )
    written["harmonised_biom"] = d / "multiomics.biom"
    write_biom(written["harmonised_biom"], biom_table, created)
    return written
