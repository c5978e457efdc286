"""fastp as an alternative trimming backend (``qc.engine: fastp``).

fastp does the 3' quality trimming (its --cut_tail sliding window) and the adapter trimming;
its own filters are switched off so that every read it receives comes out, and the reads then go
through the same N trimming, filters, host removal and statistics as with the cutadapt engine.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from microbiome.errors import ConfigError, InputError
from microbiome.qc.trim import AdapterChoice

log = logging.getLogger("microbiome")


def fastp_program() -> str:
    """Path of fastp; ConfigError saying how to get it when it is missing."""
    path = shutil.which("fastp")
    if path is None:
        raise ConfigError(
            "qc.engine is fastp but the fastp program is not on PATH: install it (Debian: "
            "apt-get install fastp; conda: bioconda::fastp) or set "
            "qc.engine: cutadapt"
        )
    return path


def run_fastp(
    reads1: str,
    reads2: str | None,
    workdir: Path,
    adapters: AdapterChoice,
    quality_cutoff: int,
    threads: int,
) -> tuple[str, str | None, dict]:
    """Trim with fastp into ``workdir``; return the trimmed files and the trimming counts.

    The counts are ``adapter_trimmed_reads``, ``adapter_trimmed_bases``, and
    ``quality_trimmed_bases`` (all other bases fastp removed: tail quality and poly-G).
    """
    program = fastp_program()
    out1 = workdir / "fastp_R1.fastq"
    out2 = workdir / "fastp_R2.fastq" if reads2 else None
    report = workdir / "fastp.json"
    command = [
        program,
        "-i",
        reads1,
        "-o",
        str(out1),
        "-w",
        str(max(1, threads)),
        "-j",
        str(report),
        "-h",
        os.devnull,
        "--disable_quality_filtering",
        "--disable_length_filtering",
    ]
    if reads2:
        command += ["-I", reads2, "-O", str(out2)]
    if quality_cutoff > 0:
        command += [
            "--cut_tail",
            "--cut_tail_mean_quality",
            str(quality_cutoff),
            "--cut_tail_window_size",
            "1",
        ]
    if adapters.kind == "none":
        command.append("--disable_adapter_trimming")
    elif adapters.kind == "file":
        fasta = workdir / "adapters.fa"
        fasta.write_text("".join(f">a{i}\n{s}\n" for i, s in enumerate(adapters.mate1)))
        command += ["--adapter_fasta", str(fasta)]
    else:
        command += ["--adapter_sequence", adapters.mate1[0]]
        if reads2:
            command += ["--adapter_sequence_r2", adapters.mate2[0]]
    log.debug("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"fastp failed (exit {done.returncode}): {last}", file=reads1)
    data = json.loads(report.read_text())
    before = data["summary"]["before_filtering"]["total_bases"]
    after = data["summary"]["after_filtering"]["total_bases"]
    cutting = data.get("adapter_cutting", {})
    adapter_bases = int(cutting.get("adapter_trimmed_bases", 0))
    counts = {
        "adapter_trimmed_reads": int(cutting.get("adapter_trimmed_reads", 0)),
        "adapter_trimmed_bases": adapter_bases,
        "quality_trimmed_bases": int(before - after - adapter_bases),
        "fastp_version": data.get("summary", {}).get("fastp_version", "unknown"),
    }
    return str(out1), str(out2) if out2 else None, counts
