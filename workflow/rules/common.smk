# Config and sample sheet, validated at start-up; input functions shared by the rule files.

import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from microbiome.errors import MicrobiomeError
from microbiome.io.samplesheet import load_sample_sheet

validate(config, schema="../schemas/config.schema.yaml")

try:
    SAMPLES = load_sample_sheet(config["samples"])
except MicrobiomeError as exc:
    raise WorkflowError(f"invalid sample sheet:\n{exc}") from None


wildcard_constraints:
    sample="|".join(re.escape(s) for s in SAMPLES.index),


def get_reads(wildcards):
    """Reads files of one sample: [fastq_1] or [fastq_1, fastq_2]."""
    row = SAMPLES.loc[wildcards.sample]
    return [row["fastq_1"], row["fastq_2"]] if row["fastq_2"] else [row["fastq_1"]]


def stats_flags(wildcards):
    """`--paired` for two-file paired-end samples."""
    return "--paired" if SAMPLES.loc[wildcards.sample, "fastq_2"] else ""


def all_outputs():
    """Every final output of the stages in this workflow."""
    return [
        *expand("results/stats/{sample}.json", sample=SAMPLES.index),
        "results/stats/read_stats.tsv",
    ]
