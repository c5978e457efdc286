"""Cross-validated responder (biomarker) models: L1 logistic regression and random forest.

Each model is a scikit-learn Pipeline whose every data-dependent step is fitted inside the
folds: taxa go through the prevalence/abundance filter (:class:`AbundanceFilter`) and the CLR,
metabolites through half-minimum imputation and the log (:class:`HalfMinLog`), then all
features are standardised. Validation is repeated ``StratifiedGroupKFold`` with the patient as
the group, so that samples of one patient are never on both sides of a split.

Reported per feature set and model:

* ``auroc_mean``: the mean over repeats of the AUROC of that repeat's pooled out-of-fold
  probabilities;
* ``auroc_ci_low``/``auroc_ci_high``: a 95 % percentile bootstrap interval, resampling patients
  with replacement, of the AUROC of the out-of-fold probabilities averaged over repeats;
* ``permutation_p``: :math:`(1 + \\#\\{\\text{AUROC}_\\pi \\ge \\text{AUROC}\\}) / (1 + P)` over
  ``P`` label permutations (patient labels are permuted when the outcome is constant within
  patients, else sample labels), each scored by one round of the same cross-validation
  (Ojala and Garriga 2010), against the AUROC of the first repeat;
* importance (L1: mean standardised coefficient; forest: mean decrease in impurity) and
  selection frequency (share of the fold fits in which the feature had a non-zero coefficient
  or importance) over every fold of every repeat.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.progress import Progress

log = logging.getLogger("microbiome")

FEATURE_SETS = ("taxa", "metabolites", "combined")
MODELS = ("l1_logistic", "random_forest")
PERFORMANCE_COLUMNS = [
    "feature_set",
    "model",
    "auroc_mean",
    "auroc_ci_low",
    "auroc_ci_high",
    "permutation_p",
    "n_samples",
    "n_positive",
    "n_splits",
    "n_repeats",
    "n_permutations",
    "auroc_sd",
]
PREDICTION_COLUMNS = ["sample_id", "patient_id", "feature_set", "model", "probability", "outcome"]
IMPORTANCE_COLUMNS = ["feature_set", "model", "feature", "importance", "selection_frequency"]


@dataclass(frozen=True)
class Settings:
    """Parameters of the biomarker models (the ``integrate.biomarkers`` config section)."""

    folds: int = 5
    repeats: int = 10
    permutations: int = 99
    bootstrap: int = 1000
    seed: int = 1
    l1_C: float = 1.0
    trees: int = 200
    threads: int = 1
    models: tuple[str, ...] = MODELS
    prevalence: float = 0.1
    min_abundance: float = 1e-4
    pseudocount: float = 0.5
    metabolite_transform: str = "log"


@dataclass(frozen=True)
class Outcome:
    """A binary outcome: 1 for the positive levels of ``column``, 0 for the others."""

    column: str
    positive: tuple[str, ...]
    values: pd.Series  # index sample_id, int 0/1, samples with a value only
    negative: tuple[str, ...]


def binary_outcome(metadata: pd.DataFrame, column: str, positive: Sequence[str] = ()) -> Outcome:
    """The outcome ``column`` as 0/1; ``positive`` names the level(s) coded 1 (required unless
    the column has exactly two levels: then the second in sort or declared order is positive).

    Raises
    ------
    ConfigError
        An unknown column, or positive levels that the column does not have.
    """
    from microbiome.integrate.associations import reference_level

    if column not in metadata.columns:
        raise ConfigError(
            f"outcome {column!r} is not a column of the clinical sheet; columns: "
            + ", ".join(c for c in metadata.columns if c != "patient_id")
        )
    values = metadata[column].dropna().astype(str)
    levels = sorted(set(values))
    declared = levels
    if isinstance(metadata[column].dtype, pd.CategoricalDtype):
        declared = [str(c) for c in metadata[column].cat.categories]
    if not positive:
        if len(levels) != 2:
            raise ConfigError(
                f"outcome {column!r} has levels {', '.join(levels)}: say which are positive"
                " (integrate.biomarkers.positive or --positive)"
            )
        ref = reference_level(metadata[column])
        positive = [lv for lv in levels if lv != ref]
    unknown = [p for p in positive if p not in declared]
    if unknown:
        raise ConfigError(
            f"outcome {column!r} has no level {unknown[0]!r}; its levels: {', '.join(declared)}"
        )
    coded = values.isin(list(positive)).astype(int)
    negative = tuple(lv for lv in declared if lv not in positive and lv in levels)
    return Outcome(column, tuple(positive), coded, negative)


def check_classes(y: np.ndarray, groups: np.ndarray, folds: int) -> str | None:
    """Why the outcome cannot be cross-validated with ``folds`` folds, or None."""
    if len(set(y.tolist())) < 2:
        return f"the outcome has a single class ({len(y)} samples)"
    for label, name in ((1, "positive"), (0, "negative")):
        patients = len(set(groups[y == label].tolist()))
        if patients < folds:
            return (
                f"{patients} patient(s) in the {name} class, fewer than the {folds} folds"
                " (lower integrate.biomarkers.folds, at least 2)"
            )
    return None


def make_pipeline(
    feature_set: str,
    model: str,
    taxa_columns: Sequence[str],
    metabolite_columns: Sequence[str],
    settings: Settings,
    seed: int,
):
    """The unfitted Pipeline of a feature set and a model (DataFrame in, probabilities out)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from microbiome.integrate.transforms import CLR, AbundanceFilter, HalfMinLog

    def taxa_steps():
        return Pipeline(
            [
                ("filter", AbundanceFilter(settings.prevalence, settings.min_abundance)),
                ("clr", CLR(settings.pseudocount)),
            ]
        )

    if feature_set == "taxa":
        prepare = taxa_steps()
    elif feature_set == "metabolites":
        prepare = HalfMinLog(settings.metabolite_transform)
    else:
        prepare = ColumnTransformer(
            [
                ("taxa", taxa_steps(), list(taxa_columns)),
                (
                    "metabolites",
                    HalfMinLog(settings.metabolite_transform),
                    list(metabolite_columns),
                ),
            ],
            verbose_feature_names_out=False,
        )
    if model == "l1_logistic":
        estimator = LogisticRegression(
            l1_ratio=1.0,
            C=settings.l1_C,
            solver="liblinear",
            class_weight="balanced",
            max_iter=1000,
            random_state=seed,
        )
    elif model == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=settings.trees,
            class_weight="balanced",
            n_jobs=settings.threads,
            random_state=seed,
        )
    else:
        raise ConfigError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    # The transformers pass DataFrames on (columns by name); from the scaler on it is arrays.
    return Pipeline([("prepare", prepare), ("scale", StandardScaler()), ("model", estimator)])


def _importance(pipeline) -> pd.Series:
    names = pipeline[:-1].get_feature_names_out()
    estimator = pipeline[-1]
    values = estimator.coef_[0] if hasattr(estimator, "coef_") else estimator.feature_importances_
    return pd.Series(values, index=names, dtype="float64")


def _predicting_in_order(pipeline):
    """``pipeline`` with its model predicting in one thread. A random forest fits its trees in
    ``threads`` threads (each tree seeded: the forest is the same), but with ``n_jobs`` > 1
    scikit-learn adds the trees' probabilities in the order the threads finish, so their last
    bits, their ties and the AUROC would change from run to run."""
    if "n_jobs" in pipeline[-1].get_params():
        pipeline[-1].set_params(n_jobs=1)
    return pipeline


def _cross_validate(template, X, y, groups, folds, seed, record=None) -> np.ndarray:
    """Out-of-fold probabilities of one round of StratifiedGroupKFold."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold

    oof = np.full(len(y), np.nan)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in cv.split(X, y, groups):
        if len(set(y[train].tolist())) < 2:
            raise _OneClassFold()
        fitted = _predicting_in_order(clone(template).fit(X.iloc[train], y[train]))
        oof[test] = fitted.predict_proba(X.iloc[test])[:, 1]
        if record is not None:
            record.append(_importance(fitted))
    return oof


class _OneClassFold(Exception):
    pass


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    """AUROC as the Mann-Whitney statistic, ties counted half (equals roc_auc_score, faster
    for the many bootstrap and permutation calls); NaN for one class."""
    from scipy.stats import rankdata

    positive = y == 1
    n1 = int(positive.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return np.nan
    ranks = rankdata(p)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _bootstrap_ci(y, p, groups, n, rng) -> tuple[float, float]:
    patients = np.unique(groups)
    rows = {g: np.flatnonzero(groups == g) for g in patients}
    values = []
    for _ in range(n):
        pick = np.concatenate([rows[g] for g in rng.choice(patients, size=len(patients))])
        values.append(_auroc(y[pick], p[pick]))
    values = np.asarray(values)
    values = values[~np.isnan(values)]
    if not len(values):
        return np.nan, np.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _permuted(y, groups, rng) -> np.ndarray:
    """Labels permuted among patients when constant within each, else among samples."""
    frame = pd.DataFrame({"g": groups, "y": y})
    per_patient = frame.groupby("g", sort=True)["y"].agg(["min", "max"])
    if (per_patient["min"] == per_patient["max"]).all():
        shuffled = pd.Series(
            rng.permutation(per_patient["min"].to_numpy()), index=per_patient.index
        )
        return shuffled.loc[groups].to_numpy()
    return rng.permutation(y)


@dataclass
class BiomarkerResult:
    performance: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    models: dict  # "feature_set/model" -> fitted Pipeline on all samples
    feature_names: dict  # feature_set -> input columns
    skipped: list  # (item, reason)


def evaluate(
    feature_sets: dict[str, pd.DataFrame],
    taxa_columns: Sequence[str],
    metabolite_columns: Sequence[str],
    outcome: Outcome,
    patients: pd.Series,
    settings: Settings,
) -> BiomarkerResult:
    """Cross-validate every model on every feature set and fit the final models.

    Parameters
    ----------
    feature_sets : dict of str to pandas.DataFrame
        ``taxa``, ``metabolites``, ``combined`` -> samples x raw features (the Pipelines
        transform them).
    outcome : Outcome
    patients : pandas.Series
        sample_id -> patient_id.
    """
    rng = np.random.default_rng(settings.seed)
    perf, preds, imps, models, names, skipped = [], [], [], {}, {}, []
    per_model = settings.repeats + settings.permutations
    progress = Progress(
        "integrate: biomarker models",
        total=len(feature_sets) * len(settings.models) * per_model,
        unit="cross-validations",
    )
    for feature_set, table in feature_sets.items():
        samples = table.index[table.index.isin(outcome.values.index)]
        X = table.loc[samples]
        y = outcome.values.loc[samples].to_numpy(dtype=int)
        groups = patients.loc[samples].astype(str).to_numpy()
        reason = check_classes(y, groups, settings.folds)
        if reason:
            skipped.append((f"biomarkers {feature_set}", reason))
            log.warning("biomarkers on %s skipped: %s", feature_set, reason)
            progress.update(len(settings.models) * per_model)
            continue
        names[feature_set] = list(X.columns)
        for model in settings.models:
            template = make_pipeline(
                feature_set, model, taxa_columns, metabolite_columns, settings, settings.seed
            )
            record: list[pd.Series] = []
            aurocs, oofs = [], []
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=UserWarning)
                    for r in range(settings.repeats):
                        oof = _cross_validate(
                            template, X, y, groups, settings.folds, settings.seed + r, record
                        )
                        oofs.append(oof)
                        aurocs.append(_auroc(y, oof))
                        progress.update()
                    observed = aurocs[0]
                    null = []
                    for _ in range(settings.permutations):
                        progress.update()
                        y_perm = _permuted(y, groups, rng)
                        try:
                            null.append(
                                _auroc(
                                    y_perm,
                                    _cross_validate(
                                        template, X, y_perm, groups, settings.folds, settings.seed
                                    ),
                                )
                            )
                        except _OneClassFold:
                            continue
            except _OneClassFold:
                reason = "a training fold had a single class; lower integrate.biomarkers.folds"
                skipped.append((f"biomarkers {feature_set} {model}", reason))
                continue
            null = np.asarray([v for v in null if not np.isnan(v)])
            p_perm = (1 + int((null >= observed).sum())) / (1 + len(null)) if len(null) else np.nan
            mean_oof = np.mean(oofs, axis=0)
            low, high = _bootstrap_ci(y, mean_oof, groups, settings.bootstrap, rng)
            perf.append(
                (
                    feature_set,
                    model,
                    float(np.nanmean(aurocs)),
                    low,
                    high,
                    p_perm,
                    len(y),
                    int(y.sum()),
                    settings.folds,
                    settings.repeats,
                    len(null),
                    float(np.nanstd(aurocs)),
                )
            )
            preds.append(
                pd.DataFrame(
                    {
                        "sample_id": samples,
                        "patient_id": groups,
                        "feature_set": feature_set,
                        "model": model,
                        "probability": mean_oof,
                        "outcome": y,
                    }
                )
            )
            fits = pd.concat(record, axis=1).fillna(0.0)
            imps.append(
                pd.DataFrame(
                    {
                        "feature_set": feature_set,
                        "model": model,
                        "feature": fits.index,
                        "importance": fits.sum(axis=1).to_numpy() / len(record),
                        "selection_frequency": (fits != 0).sum(axis=1).to_numpy() / len(record),
                    }
                ).sort_values("importance", key=np.abs, ascending=False, kind="mergesort")
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                models[f"{feature_set}/{model}"] = _predicting_in_order(template.fit(X, y))
    progress.close()
    return BiomarkerResult(
        performance=pd.DataFrame(perf, columns=PERFORMANCE_COLUMNS),
        predictions=pd.concat(preds, ignore_index=True)
        if preds
        else pd.DataFrame(columns=PREDICTION_COLUMNS),
        importance=pd.concat(imps, ignore_index=True)
        if imps
        else pd.DataFrame(columns=IMPORTANCE_COLUMNS),
        models=models,
        feature_names=names,
        skipped=skipped,
    )


def check_feature_names(taxa_columns: Sequence[str], metabolite_columns: Sequence[str]) -> None:
    """The combined feature set needs distinct names for taxa and metabolites."""
    clash = sorted(set(taxa_columns) & set(metabolite_columns))
    if clash:
        raise InputError(f"{clash[0]!r} is both a taxon and a metabolite name")
