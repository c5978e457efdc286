"""Cross-validated responder (biomarker) models: L1 logistic regression and random forest.

Each model is a scikit-learn Pipeline whose every data-dependent step is fitted inside the
folds: taxa go through the prevalence/abundance filter (:class:`AbundanceFilter`) and the CLR,
metabolites through half-minimum imputation and the log (:class:`HalfMinLog`), then all
features are standardised. Validation is repeated ``StratifiedGroupKFold`` with the patient as
the group, so that samples of one patient are never on both sides of a split.

Reported per feature set and model:

* ``auroc_mean``: the mean over repeats of the AUROC of that repeat's pooled out-of-fold
  probabilities;
* ``auroc_ci_low``/``auroc_ci_high``: a 95 % percentile bootstrap interval of that mean over
  repeats, resampling patients with replacement, the out-of-fold probabilities held fixed (the
  models are not refitted);
* ``permutation_p``: the reported AUROC against the AUROCs of one round of the same
  cross-validation (the first repeat's splits, models refitted) per label permutation (patient
  labels are permuted when the outcome is constant within patients, else sample labels; Ojala
  and Garriga 2010), conservative since one round varies more than a mean over repeats; the
  draws stop once the p-value is sure to exceed ``permutation_alpha`` (:func:`sequential_p`,
  Besag and Clifford 1991), and ``n_permutations`` counts those drawn;
* importance (L1: mean standardised coefficient; forest: mean decrease in impurity) and
  selection frequency (share of the fold fits in which the feature had a non-zero coefficient
  or importance) over every fold of every repeat.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import delayed

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
REPEAT_AUROC_COLUMNS = ["feature_set", "model", "repeat", "auroc"]
IMPORTANCE_COLUMNS = ["feature_set", "model", "feature", "importance", "selection_frequency"]


@dataclass(frozen=True)
class Settings:
    """Parameters of the biomarker models (the ``integrate.biomarkers`` config section)."""

    folds: int = 5
    repeats: int = 10
    permutations: int = 99
    bootstrap: int = 1000
    seed: int = 1
    permutation_alpha: float = 0.05
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


def _predicting_in_order(pipeline):
    """``pipeline`` with its model predicting in one thread. A random forest fits its trees in
    ``threads`` threads (each tree seeded: the forest is the same), but with ``n_jobs`` > 1
    scikit-learn adds the trees' probabilities in the order the threads finish, so their last
    bits, their ties and the AUROC would change from run to run."""
    if "n_jobs" in pipeline[-1].get_params():
        pipeline[-1].set_params(n_jobs=1)
    return pipeline


@dataclass(frozen=True)
class _Fold:
    """One training/test split with the features prepared on its training samples only."""

    train: np.ndarray  # row positions
    test: np.ndarray
    X_train: np.ndarray  # prepared (filtered, transformed, standardised)
    X_test: np.ndarray
    names: np.ndarray  # feature names after preparation


def _splits(X, y, groups, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One round of StratifiedGroupKFold; raises _OneClassFold if a training fold has one
    class."""
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(cv.split(X, y, groups))
    if any(len(set(y[train].tolist())) < 2 for train, _ in splits):
        raise _OneClassFold()
    return splits


def _quiet(func):
    """``func`` with scikit-learn's UserWarnings (convergence, feature names) silenced in the
    process that runs it: the rounds run in worker processes, where the caller's filters do not
    reach."""

    @functools.wraps(func)
    def quiet(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            return func(*args, **kwargs)

    return quiet


@_quiet
def _prepare(template, X: pd.DataFrame, splits) -> list[_Fold]:
    """Every step of ``template`` but the model fitted on each training fold: the filters,
    transforms and scaler learn from the features only, never from the labels, so one
    preparation serves every model of the feature set and every permutation of the labels."""
    from sklearn.base import clone

    prepared = []
    for train, test in splits:
        steps = clone(template[:-1])
        X_train = steps.fit_transform(X.iloc[train])
        X_test = steps.transform(X.iloc[test])
        names = np.asarray(steps.get_feature_names_out(), dtype=object)
        prepared.append(_Fold(train, test, X_train, X_test, names))
    return prepared


def _fit_model(template, fold: _Fold, y_train: np.ndarray):
    """The model step of ``template`` fitted on a prepared training fold, in one thread (the
    rounds run in parallel; each forest is seeded, so it is the same forest)."""
    from sklearn.base import clone

    model = clone(template[-1])
    if model.get_params().get("n_jobs") not in (None, 1):
        model.set_params(n_jobs=1)
    return model.fit(fold.X_train, y_train)


@_quiet
def _round(template, folds: list[_Fold], y: np.ndarray, record: bool):
    """Out-of-fold probabilities of one cross-validation round on prepared folds, with each
    fold model's importance when ``record``; None when a training fold has one class."""
    oof = np.full(len(y), np.nan)
    importances = []
    for fold in folds:
        if len(set(y[fold.train].tolist())) < 2:
            return None
        model = _fit_model(template, fold, y[fold.train])
        oof[fold.test] = model.predict_proba(fold.X_test)[:, 1]
        if record:
            values = model.coef_[0] if hasattr(model, "coef_") else model.feature_importances_
            importances.append(pd.Series(values, index=fold.names, dtype="float64"))
    return oof, importances


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


def _bootstrap_ci(y, oofs: list[np.ndarray], groups, n, rng) -> tuple[float, float]:
    """95 % percentile interval of the reported estimate, the mean over repeats of each
    repeat's AUROC, over ``n`` resamples of patients with replacement (the out-of-fold
    probabilities are held fixed: the interval does not refit the models)."""
    patients = np.unique(groups)
    rows = {g: np.flatnonzero(groups == g) for g in patients}
    values = []
    for _ in range(n):
        pick = np.concatenate([rows[g] for g in rng.choice(patients, size=len(patients))])
        values.append(np.mean([_auroc(y[pick], oof[pick]) for oof in oofs]))
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


def sequential_p(
    null: Sequence[float], observed: float, permutations: int, alpha: float
) -> tuple[float, int]:
    """Permutation p-value of ``observed`` against the ``null`` statistics in the order they
    were drawn, stopping once the decision at ``alpha`` is settled (Besag and Clifford 1991).

    With ``h = max(1, floor(alpha (P + 1)))`` for ``P = permutations``: if the ``l``-th draw
    brings the exceedances (null >= observed) to ``h``, the later draws are not used and
    ``p = max(h / l, (1 + h) / (1 + P))``: Besag and Clifford's sequential p, raised where needed
    to the smallest p that all ``P`` draws could still give, so that it exceeds ``alpha`` as the
    full p would (a valid p-value raised stays valid). Otherwise ``p = (1 + k) / (1 + n)`` over
    all ``n`` draws with ``k`` exceedances, the usual Monte Carlo p. ``alpha`` 0 never stops
    early. Returns (p, draws used); NaN p with no draws.
    """
    h = _exceedance_limit(permutations, alpha)
    k = 0
    for used, value in enumerate(null, start=1):
        k += bool(value >= observed)
        if h is not None and k >= h:
            return max(h / used, (1 + h) / (1 + permutations)), used
    return ((1 + k) / (1 + len(null)) if len(null) else np.nan), len(null)


def _exceedance_limit(permutations: int, alpha: float) -> int | None:
    """Exceedances that settle a p-value above ``alpha``: ``max(1, floor(alpha (P + 1)))``;
    None when ``alpha`` is 0 (no early stop)."""
    return max(1, int(np.floor(alpha * (permutations + 1)))) if alpha > 0 else None


def selection_optimism(repeat_aurocs: pd.DataFrame, chosen: tuple[str, str]) -> float:
    """How much choosing the best of several models on the same cross-validation flatters it
    (Tibshirani and Tibshirani 2009): the mean over repeats of the best model's AUROC in that
    repeat minus the chosen model's. ``repeat_aurocs`` has feature_set, model, repeat, auroc."""
    wide = repeat_aurocs.pivot_table(
        index="repeat", columns=["feature_set", "model"], values="auroc", aggfunc="first"
    )
    return float((wide.max(axis=1) - wide[chosen]).mean())


@dataclass
class BiomarkerResult:
    performance: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    models: dict  # "feature_set/model" -> fitted Pipeline on all samples
    feature_names: dict  # feature_set -> input columns
    skipped: list  # (item, reason)
    repeat_aurocs: pd.DataFrame  # feature_set, model, repeat, auroc


def _drop_absent_taxa(X: pd.DataFrame, taxa_columns: Sequence[str], settings: Settings):
    """``X`` without the taxa that are zero in every sample, when the filters are on: such a
    taxon passes them in no training fold, and the samples' totals do not change without it.
    Thousands of mostly absent genera would otherwise be carried through every fold."""
    if settings.prevalence <= 0 and settings.min_abundance <= 0:
        return X
    is_taxon = set(taxa_columns)
    taxa = [c for c in X.columns if c in is_taxon]
    present = X[taxa].to_numpy(dtype=np.float64).any(axis=0) if taxa else np.array([], bool)
    if not present.any():
        return X
    absent = {c for c, p in zip(taxa, present, strict=True) if not p}
    return X[[c for c in X.columns if c not in absent]]


def evaluate(
    feature_sets: dict[str, pd.DataFrame],
    taxa_columns: Sequence[str],
    metabolite_columns: Sequence[str],
    outcome: Outcome,
    patients: pd.Series,
    settings: Settings,
) -> BiomarkerResult:
    """Cross-validate every model on every feature set and fit the final models.

    The rounds (repeats and permutations) run in ``settings.threads`` processes; every round
    has its own seed, so the results do not depend on the number of processes.

    Parameters
    ----------
    feature_sets : dict of str to pandas.DataFrame
        ``taxa``, ``metabolites``, ``combined`` -> samples x raw features (the Pipelines
        transform them).
    outcome : Outcome
    patients : pandas.Series
        sample_id -> patient_id.
    """
    from joblib import Parallel

    rng = np.random.default_rng(settings.seed)
    perf, preds, imps, models, names, skipped, per_repeat = [], [], [], {}, {}, [], []
    per_model = settings.repeats + settings.permutations
    progress = Progress(
        "integrate: biomarker models",
        total=len(feature_sets) * len(settings.models) * per_model,
        unit="cross-validations",
    )
    # Processes, not threads: liblinear seeds the C library's one random state, so two fits in
    # threads of one process would draw from each other's sequence.
    parallel = Parallel(n_jobs=settings.threads)
    for feature_set, table in feature_sets.items():
        samples = table.index[table.index.isin(outcome.values.index)]
        X = _drop_absent_taxa(table.loc[samples], taxa_columns, settings)
        y = outcome.values.loc[samples].to_numpy(dtype=int)
        groups = patients.loc[samples].astype(str).to_numpy()
        reason = check_classes(y, groups, settings.folds)
        if reason:
            skipped.append((f"biomarkers {feature_set}", reason))
            log.warning("biomarkers on %s skipped: %s", feature_set, reason)
            progress.update(len(settings.models) * per_model)
            continue
        names[feature_set] = list(X.columns)
        columns = set(X.columns)
        kept_taxa = [c for c in taxa_columns if c in columns]
        templates = {
            model: make_pipeline(
                feature_set, model, kept_taxa, metabolite_columns, settings, settings.seed
            )
            for model in settings.models
        }
        any_template = next(iter(templates.values()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            try:
                splits = [
                    _splits(X, y, groups, settings.folds, settings.seed + r)
                    for r in range(settings.repeats)
                ]
            except _OneClassFold:
                reason = "a training fold had a single class; lower integrate.biomarkers.folds"
                skipped += [(f"biomarkers {feature_set} {m}", reason) for m in settings.models]
                progress.update(len(settings.models) * per_model)
                continue
            prepared = parallel(delayed(_prepare)(any_template, X, s) for s in splits)
            rounds = parallel(
                delayed(_round)(templates[m], prepared[r], y, True)
                for m in settings.models
                for r in range(settings.repeats)
            )
            progress.update(len(rounds))
            done = {
                m: rounds[i * settings.repeats : (i + 1) * settings.repeats]
                for i, m in enumerate(settings.models)
            }
            aurocs = {m: [_auroc(y, oof) for oof, _ in done[m]] for m in settings.models}
            observed = {m: float(np.nanmean(aurocs[m])) for m in settings.models}
            null = _permutation_rounds(
                parallel, templates, prepared[0], y, groups, observed, settings, progress
            )
        for model in settings.models:
            oofs = [oof for oof, _ in done[model]]
            record = [imp for _, fold_imps in done[model] for imp in fold_imps]
            reported = observed[model]
            draws = [v for v in null[model] if not np.isnan(v)]
            p_perm, used = sequential_p(
                draws, reported, settings.permutations, settings.permutation_alpha
            )
            low, high = _bootstrap_ci(y, oofs, groups, settings.bootstrap, rng)
            perf.append(
                (
                    feature_set,
                    model,
                    reported,
                    low,
                    high,
                    p_perm,
                    len(y),
                    int(y.sum()),
                    settings.folds,
                    settings.repeats,
                    used,
                    float(np.nanstd(aurocs[model])),
                )
            )
            per_repeat += [(feature_set, model, r, a) for r, a in enumerate(aurocs[model])]
            preds.append(
                pd.DataFrame(
                    {
                        "sample_id": samples,
                        "patient_id": groups,
                        "feature_set": feature_set,
                        "model": model,
                        "probability": np.mean(oofs, axis=0),
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
                fitted = templates[model].fit(X, y)  # forests in settings.threads threads
                models[f"{feature_set}/{model}"] = _predicting_in_order(fitted)
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
        repeat_aurocs=pd.DataFrame(per_repeat, columns=REPEAT_AUROC_COLUMNS),
    )


def _permutation_rounds(parallel, templates, folds, y, groups, observed, settings, progress):
    """AUROCs of one cross-validation round per label permutation, per model, in draw order
    (NaN where a permutation left a training fold with one class).

    Permutation ``i`` permutes the labels with its own seed (the same permutation for every
    model) and keeps the first repeat's splits and their prepared features. Draws run in
    batches of a few per thread; a model stops drawing once its decision at
    ``permutation_alpha`` is settled (:func:`sequential_p`), and since the p-value reads the
    draws in order, which draws count does not depend on the batch size or the threads.
    """
    null: dict[str, list[float]] = {m: [] for m in templates}
    labels = [
        _permuted(y, groups, np.random.default_rng((settings.seed, i)))
        for i in range(settings.permutations)
    ]
    active = list(templates)
    batch = 4 * max(1, settings.threads)
    start = 0
    while active and start < settings.permutations:
        stop = min(start + batch, settings.permutations)
        results = parallel(
            delayed(_round)(templates[m], folds, labels[i], False)
            for m in active
            for i in range(start, stop)
        )
        for j, model in enumerate(active):
            for out, y_perm in zip(
                results[j * (stop - start) : (j + 1) * (stop - start)],
                labels[start:stop],
                strict=True,
            ):
                null[model].append(np.nan if out is None else _auroc(y_perm, out[0]))
        progress.update(len(results))
        start = stop
        settled = [m for m in active if _settled(null[m], observed[m], settings)]
        progress.update(len(settled) * (settings.permutations - stop))
        active = [m for m in active if m not in settled]
    return null


def _settled(null: list[float], observed: float, settings: Settings) -> bool:
    """Whether the draws so far already put the p-value above ``permutation_alpha``."""
    h = _exceedance_limit(settings.permutations, settings.permutation_alpha)
    return h is not None and sum(v >= observed for v in null if not np.isnan(v)) >= h


def check_feature_names(taxa_columns: Sequence[str], metabolite_columns: Sequence[str]) -> None:
    """The combined feature set needs distinct names for taxa and metabolites."""
    clash = sorted(set(taxa_columns) & set(metabolite_columns))
    if clash:
        raise InputError(f"{clash[0]!r} is both a taxon and a metabolite name")
