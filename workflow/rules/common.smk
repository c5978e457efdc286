# Config and sample sheet, validated at start-up; input functions shared by the rule files.

import json
import os
import re
import shlex
import shutil
import subprocess

import pandas as pd

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from microbiome.config import input_paths, science
from microbiome.errors import MicrobiomeError
from microbiome.reproducible import newest_mtime
from microbiome.validation import check_run

# With --software-deployment-method conda, envs/microbiome.post-deploy.sh installs the package
# into its environment from this checkout.
os.environ.setdefault("MICROBIOME_SRC", os.path.dirname(workflow.basedir))

# The checks of `microbiome validate`, every problem at once: the config against the package's
# microbiome/schemas/config.schema.yaml (its defaults filled in), settings that go together, the
# sample sheet, and the clinical sheet against its declared column types.
# The config files, lowest precedence first (configfile:, then --configfile), name the file
# and line of a config problem.
_cli_configfiles = [str(f) for f in workflow.overwrite_configfiles or ()]
try:
    CHECKED = check_run(
        config,
        config_files=[
            *(f for f in map(str, workflow.configfiles) if f not in _cli_configfiles),
            *_cli_configfiles,
        ],
    )
except MicrobiomeError as exc:
    raise WorkflowError(f"invalid inputs:\n{exc}") from None
for note in (*CHECKED.warnings, *(CHECKED.metadata.notes if CHECKED.metadata else ())):
    logger.warning(note)

#: tables mode: every stage after profiling runs from given tables; no reads, no sample sheet.
TABLES_MODE = config["mode"] == "tables"

if TABLES_MODE:
    SAMPLES = pd.DataFrame(
        columns=["sample_id", "fastq_1", "fastq_2", "line", "layout"]
    )
else:
    SAMPLES = CHECKED.samples


def input_data():
    """The run's input data: every reads file and every file or folder that the config names
    as input (not the config and the sample sheet themselves)."""
    paths = [p for p in SAMPLES["fastq_1"].tolist() + SAMPLES["fastq_2"].tolist() if p]
    return paths + [path for _, path in input_paths(config)]


# Byte-reproducible outputs: the dates that files carry (BIOM creation dates, the reports' date)
# are SOURCE_DATE_EPOCH's; unless it is set, every job (and a resumed run) takes the newest
# modification time of the input data (microbiome/reproducible.py). Jobs inherit the main
# process's value, so only the main process stats the inputs (setdefault would in every job).
if "SOURCE_DATE_EPOCH" not in os.environ:
    os.environ.update(SOURCE_DATE_EPOCH=str(newest_mtime(input_data()) or 0))


wildcard_constraints:
    sample="|".join(re.escape(s) for s in SAMPLES.index),


def shell_flag(flag, values):
    """`flag` and its value (a path, or a list of them), each shell-quoted so that any legal
    file name is safe in a shell command; "" without a value. Rules pass every path through
    this or `:q`, never through `!r` (a Python quote, not a shell one)."""
    if isinstance(values, (str, os.PathLike)):
        values = [values]
    values = [os.fspath(v) for v in values or () if v]
    return " ".join([flag, *map(shlex.quote, values)]) if values else ""


def get_reads(wildcards):
    """Reads files of one sample: [fastq_1] or [fastq_1, fastq_2]. A paired sample with
    fastq_1 alone is interleaved (layout 'paired', see microbiome.io.reads.is_interleaved):
    `microbiome stats` and `qc` detect it and read it as pairs."""
    row = SAMPLES.loc[wildcards.sample]
    return [row["fastq_1"], row["fastq_2"]] if row["fastq_2"] else [row["fastq_1"]]


def stats_flags(wildcards):
    """`--paired` for two-file paired-end samples."""
    return "--paired" if SAMPLES.loc[wildcards.sample, "fastq_2"] else ""


def resources_for(stage, mem_input=None):
    """`mem_mb` and `runtime` of a job of `stage`, from config[stage]; use in a rule as
    `resources: **resources_for("stage")`. These keys (microbiome.config.RESOURCE_KEYS) never
    go into `params:` (pass `science(config[stage])`): a changed param reruns the job.

    Both grow with the job's input and with each retry (`--retries`, attempt 1, 2, ...):

        mem_mb  = (mem_mb  + mem_mb_per_gb  * GB of input) * attempt
        runtime = (runtime + runtime_per_gb * GB of input) * attempt     (minutes)

    `mem_input` names the input whose size drives memory (e.g. "db" for classification against a
    memory-mapped database); default: all input files. Runtime always scales with all input.
    Missing `*_per_gb` keys count as 0.
    """
    cfg = config[stage]

    def scaled(base, per_gb, named=None):
        def resource(wildcards, input, attempt):
            files = input if named is None else getattr(input, named)
            files = [files] if isinstance(files, str) else files
            gb = sum(os.path.getsize(f) for f in files) / 2**30
            return max(1, round((cfg[base] + cfg.get(per_gb, 0) * gb) * attempt))

        return resource

    return {
        "mem_mb": scaled("mem_mb", "mem_mb_per_gb", mem_input),
        "runtime": scaled("runtime", "runtime_per_gb"),
    }


def sample_pattern(layout):
    """Regex matching exactly the samples of one layout ('paired' or 'single')."""
    names = SAMPLES.index[SAMPLES["layout"] == layout]
    return "|".join(re.escape(s) for s in names) or "(?!)"


def host_index_path():
    """The host index (kmer) or Bowtie 2 index prefix built from qc.host_references."""
    if config["qc"]["host_method"] == "bowtie2":
        return "resources/host/bowtie2/host"
    return "resources/host/host.idx"


def host_index_files():
    """Files of the host index; none when host removal is off (no host_references)."""
    if not config["qc"]["host_references"]:
        return []
    if config["qc"]["host_method"] == "bowtie2":
        return multiext(
            host_index_path(),
            ".1.bt2",
            ".2.bt2",
            ".3.bt2",
            ".4.bt2",
            ".rev.1.bt2",
            ".rev.2.bt2",
        )
    return [host_index_path()]


def host_index_prefix(first_file):
    """The index path to give `microbiome qc-index -o`, from its first output file."""
    return first_file.removesuffix(".1.bt2")


def host_index_flags():
    qc = config["qc"]
    return (
        "--bowtie2"
        if qc["host_method"] == "bowtie2"
        else f"-l {qc['host_l']} -w {qc['host_w']}"
    )


def qc_host_flags(wildcards, input):
    """`--host-index INDEX` when host removal is on."""
    return shell_flag("--host-index", input.host and host_index_prefix(input.host[0]))


def qc_reads_flags(wildcards):
    """`-1 R1 [-2 R2]` of a sample (an interleaved BAM/CRAM is given as -1 alone)."""
    return reads_flags(get_reads(wildcards))


def reads_flags(reads):
    """`-1 R1 [-2 R2]`, shell-quoted."""
    return " ".join(shell_flag(f"-{i}", path) for i, path in enumerate(reads, 1))


def qc_outputs(layout):
    """Named outputs of microbiome qc for a layout (keep_singletons adds a file)."""
    outputs = {"json": "results/qc/{sample}.qc.json"}
    if layout == "single":
        return outputs | {"reads": "results/qc/{sample}.fastq.gz"}
    outputs |= {
        "r1": "results/qc/{sample}_R1.fastq.gz",
        "r2": "results/qc/{sample}_R2.fastq.gz",
    }
    if config["qc"]["keep_singletons"]:
        outputs["singletons"] = "results/qc/{sample}_singletons.fastq.gz"
    return outputs


def profile_db():
    """The database the classification reads: prebuilt, or built into resources/db/."""
    cfg = config["profile"]
    if cfg["profiler"] == "kraken2":
        # Its files, so that memory scales with the database's size (a folder has none).
        return [
            os.path.join(cfg["kraken2_db"], f)
            for f in ("hash.k2d", "opts.k2d", "taxo.k2d")
        ]
    return cfg["database"] or "resources/db/profile.mbdb"


def profile_reference_files():
    """Every reference file of the database build (folders expanded), as inputs to track."""
    from microbiome.profile.database import reference_files

    try:
        return reference_files(config["profile"]["references"])
    except MicrobiomeError as exc:
        raise WorkflowError(f"profile.references: {exc}") from None


def profile_taxonomy_files():
    """The taxonomy's files: nodes.dmp and names.dmp of a taxdump folder, or the GTDB TSV."""
    path = config["profile"]["taxonomy"]
    if os.path.isdir(path):
        return [os.path.join(path, "nodes.dmp"), os.path.join(path, "names.dmp")]
    return [path]


def profile_taxonomy_arg(wildcards, input):
    """The --taxonomy of the build, from its input files: the taxdump folder or the TSV."""
    files = list(input.taxonomy)
    return os.path.dirname(files[0]) if len(files) == 2 else files[0]


def profile_reads(wildcards):
    """The QC'd reads of a sample: R1 and R2 of a pair, or the single-end file."""
    if SAMPLES.loc[wildcards.sample, "layout"] == "single":
        return [f"results/qc/{wildcards.sample}.fastq.gz"]
    return expand(
        "results/qc/{sample}_{mate}.fastq.gz",
        sample=wildcards.sample,
        mate=("R1", "R2"),
    )


def profile_outputs():
    """Named outputs of a sample's classification (per-read output when asked for)."""
    outputs = {
        "report": "results/profile/{sample}.kreport",
        "cami": "results/profile/{sample}.cami",
        "tsv": "results/profile/{sample}.tsv",
    }
    if config["profile"]["per_read_output"]:
        outputs["reads"] = "results/profile/{sample}.reads.gz"
    return outputs


#: The cohort tables of merge-profiles: one counts and one relative table per rank.
PROFILE_RANKS = (
    "superkingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
)


def taxa_table(rank):
    """The taxa table at `rank` of the stages after profiling: this run's merged counts
    (reads mode), or in tables mode tables.taxa, else the table that
    `microbiome import-profiles` merges from tables.profiler_outputs."""
    if not TABLES_MODE:
        return f"results/tables/{rank}.counts.tsv"
    return config["tables"]["taxa"] or f"results/tables/imported.{rank}.tsv"


def get_taxa_table(wildcards):
    """The taxa table that diversity analyses (see taxa_table), at diversity.rank."""
    return taxa_table(config["diversity"]["rank"])


def get_integrate_taxa_table(wildcards):
    """The taxa table that the integration analyses (see taxa_table), at integrate.rank."""
    return taxa_table(config["integrate"]["rank"] or "species")


def diversity_active():
    """The diversity stage runs: switched on, with the profiles or tables it needs."""
    return config["diversity"]["activate"] and (
        TABLES_MODE or config["profile"]["activate"]
    )


def diversity_sketching():
    """k-mer sketches of the reads (diversity.sketch), which tables mode does not have."""
    return config["diversity"]["sketch"] and not TABLES_MODE


def all_outputs():
    """Every final output of the stages in this workflow."""
    outputs = integrate_outputs() if integrate_runs() else []
    outputs.append("results/tables/sample_status.tsv")
    if TABLES_MODE:
        reports = report_outputs() if config["report"]["activate"] else []
        if config["tables"]["profiler_outputs"]:
            outputs += [
                "results/tables/classification_summary.tsv",
                "results/tables/classification_mqc.tsv",
            ]
        return outputs + diversity_outputs() + reports
    outputs += [
        *expand("results/stats/{sample}.json", sample=SAMPLES.index),
        "results/stats/read_stats.tsv",
        *expand("results/qc/{sample}.qc.json", sample=SAMPLES.index),
        "results/qc/qc_summary.tsv",
    ]
    if config["profile"]["activate"]:
        outputs += expand("results/profile/{sample}.tsv", sample=SAMPLES.index)
        outputs += expand(
            "results/tables/{rank}.{kind}.tsv",
            rank=PROFILE_RANKS,
            kind=("counts", "relative", "relative_classified"),
        )
        outputs += [
            "results/tables/profiles.long.tsv",
            "results/tables/profiles.biom",
            "results/tables/classification_summary.tsv",
            "results/tables/classification_mqc.tsv",
        ]
    outputs += diversity_outputs()
    if config["report"]["activate"] and config["profile"]["activate"]:
        outputs += report_outputs()
    return outputs


def integrate_runs():
    """Whether the integration runs: switched on, with taxa (tables mode or profiles) and a
    clinical sheet to link them to."""
    return (
        config["integrate"]["activate"]
        and bool(config["metadata"]["table"])
        and (TABLES_MODE or config["profile"]["activate"])
    )


def integrate_outputs():
    """The final outputs of the integration (the contract with the report stage), as plain
    paths: a report() flag here would resolve its caption against the Snakefile's folder.
    """
    return [str(path) for path in integrate_rule_outputs().values()]


def integrate_settings(wildcards):
    """The config sections `microbiome integrate --config` reads (it fills in the rest),
    without the resources (threads come as --threads)."""
    sections = {k: science(config[k]) for k in ("integrate", "metadata")}
    return json.dumps(sections, sort_keys=True)


def integrate_rule_outputs():
    """Named outputs of the integrate rule, the figures and tables in the report."""
    d = "results/integrate"
    outputs = {
        "join_report": report(
            f"{d}/join_report.tsv",
            caption="../report/integrate_join.rst",
            category="Clinical integration",
        ),
        "associations": report(
            f"{d}/associations.tsv",
            caption="../report/integrate_associations.rst",
            category="Clinical integration",
        ),
        "volcano": report(
            f"{d}/figures/volcano.svg",
            caption="../report/integrate_associations.rst",
            category="Clinical integration",
        ),
        "parameters": f"{d}/parameters.json",
        "settings": f"{d}/config.json",
        "harmonised": f"{d}/harmonised/multiomics.biom",
    }
    if config["integrate"]["metabolites"]:
        outputs["correlations"] = report(
            f"{d}/correlations.tsv",
            caption="../report/integrate_correlations.rst",
            category="Clinical integration",
        )
        outputs["correlations_heatmap"] = report(
            f"{d}/figures/correlations_heatmap.svg",
            caption="../report/integrate_correlations.rst",
            category="Clinical integration",
        )
    if config["integrate"]["biomarkers"]["outcome"]:
        outputs["performance"] = report(
            f"{d}/biomarkers/performance.tsv",
            caption="../report/integrate_biomarkers.rst",
            category="Clinical integration",
        )
        outputs["roc"] = report(
            f"{d}/figures/roc.svg",
            caption="../report/integrate_biomarkers.rst",
            category="Clinical integration",
        )
        outputs["model"] = f"{d}/biomarkers/model.joblib"
    return outputs


def diversity_metrics():
    """Beta diversity metrics: the configured ones, and kmer_jaccard with sketches."""
    cfg = config["diversity"]
    return list(cfg["metrics"]) + (["kmer_jaccard"] if diversity_sketching() else [])


def diversity_sketches():
    """The samples' k-mer sketches when diversity.sketch is on."""
    if not diversity_sketching():
        return []
    return expand("results/diversity/sketches/{sample}.sketch", sample=SAMPLES.index)


def diversity_rarefied_output():
    """alpha.rarefied.tsv when rarefaction is on."""
    return (
        ["results/diversity/alpha.rarefied.tsv"]
        if config["diversity"]["rarefaction_depth"]
        else []
    )


def diversity_column_flag(key):
    """--sample-column / --patient-column from the metadata section, when set."""
    return shell_flag(f"--{key.replace('_', '-')}", config["metadata"][key])


def diversity_figures(ext="svg"):
    """(path, caption, subcategory, labels) of each figure file with extension `ext`."""
    from microbiome.diversity.run import figures

    cfg = config["diversity"]
    captions = {
        "rarefaction": ("diversity_rarefaction", "Alpha diversity"),
        "pcoa": ("diversity_pcoa", "Ordination"),
        "alpha": ("diversity_alpha_figure", "Alpha diversity"),
    }
    return [
        (
            f"results/diversity/figures/{stem}.{ext}",
            f"../report/{captions[kind][0]}.rst",
            captions[kind][1],
            {"figure": f"{kind} {metric}".strip(), "variable": variable or "-"},
        )
        for stem, kind, metric, variable in figures(
            diversity_metrics(),
            cfg["variables"],
            tree=bool(cfg["tree"]),
            curves=cfg["rarefaction_curves"],
        )
    ]


def diversity_outputs():
    """Every output of the rule diversity (for all_outputs)."""
    if not diversity_active():
        return []
    metrics = diversity_metrics()
    return [
        "results/diversity/alpha.tsv",
        *diversity_rarefied_output(),
        *expand("results/diversity/beta/{metric}.distances.tsv", metric=metrics),
        *expand(
            "results/diversity/pcoa/{metric}.{kind}.tsv",
            metric=metrics,
            kind=("coordinates", "variance"),
        ),
        *expand(
            "results/diversity/tests/{name}.tsv",
            name=("permanova", "permdisp", "alpha_tests", "skipped_variables"),
        ),
        "results/diversity/excluded.tsv",
        "results/diversity/parameters.json",
        *(path for path, *_ in diversity_figures("svg")),
        *(path for path, *_ in diversity_figures("png")),
    ]


def check_slurm():
    """Stop at once, saying why, when the SLURM executor cannot work here (not on a dry run).

    Without this, a missing `sbatch` fails every job after a long wait, and a `sacct` without
    accounting makes the plugin wait forever for jobs that have long finished.
    """
    plugin = getattr(workflow.executor_plugin, "name", None)
    if plugin != "slurm":
        return
    if shutil.which("sbatch") is None:
        raise WorkflowError(
            "--executor slurm (profile config/profiles/slurm): `sbatch` is not on PATH. Run the"
            " workflow on your cluster's login node (there, maybe after `module load slurm`), or"
            " use --profile config/profiles/local on this machine."
        )
    status = getattr(workflow.executor_settings, "status_command", "sacct")
    if status == "sacct":
        try:
            subprocess.run(
                ["sacct", "-n", "-X", "-o", "JobID", "-S", "now"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            why = getattr(exc, "stderr", None) or str(exc)
            raise WorkflowError(
                f"the SLURM plugin watches jobs with `sacct`, which fails here ({why.strip()})."
                " Add --slurm-status-command squeue (with MinJobAge >= 120 in slurm.conf)"
                " or ask your cluster's admins to enable accounting."
            ) from None


onstart:
    check_slurm()
