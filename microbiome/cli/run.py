"""Run the whole workflow on your samples, on this machine or a SLURM cluster (Snakemake inside)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from microbiome.errors import ConfigError

log = logging.getLogger("microbiome")

EPILOG = """\
examples:
  microbiome run --config my/config.yaml --samples my/samples.tsv --dry-run
  microbiome run --config my/config.yaml --samples my/samples.tsv --cores 8
  microbiome run --config my/config.yaml --profile slurm --partition compute --account mylab
  microbiome run --config my/config.yaml -- --forcerun read_stats   (more Snakemake options)

Relative paths are relative to the current folder. A killed or failed run resumes where it stopped
when the same command is run again: finished results are kept, unfinished ones are redone.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help=__doc__.splitlines()[0],
        description=textwrap.fill(
            __doc__
            + " Checks the config and the sample sheet first, then runs Snakemake with a profile"
            " (config/profiles/local or config/profiles/slurm) and says where the results, logs"
            " and reports are."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="YAML", required=True, help="workflow config (YAML)")
    parser.add_argument(
        "--samples", metavar="SHEET", help="sample sheet (default: the config's 'samples')"
    )
    parser.add_argument(
        "--profile",
        default="local",
        metavar="PROFILE",
        help="'local' (default: this machine), 'slurm' (submit jobs to SLURM), or a folder with"
        " a Snakemake profile config.yaml",
    )
    parser.add_argument(
        "-d",
        "--directory",
        metavar="DIR",
        default=".",
        help="where results/, logs/ and .snakemake/ go (default: the current folder)",
    )
    parser.add_argument(
        "-c", "--cores", type=int, help="cores to use on this machine (default: all of them)"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, help="with --profile slurm: at most this many jobs at once"
    )
    parser.add_argument("--partition", help="with --profile slurm: SLURM partition (sbatch -p)")
    parser.add_argument("--account", help="with --profile slurm: SLURM account (sbatch -A)")
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="show what would run, run nothing"
    )
    parser.add_argument(
        "--unlock",
        action="store_true",
        help="remove the lock a killed run left in DIR (only when no other run uses DIR)",
    )
    parser.add_argument(
        "snakemake_args",
        nargs="*",
        metavar="-- SNAKEMAKE_OPTION",
        help="anything after -- goes to Snakemake unchanged",
    )
    parser.set_defaults(func=run)


def _profile_dir(profile: str) -> Path:
    from microbiome.config import WORKFLOW_DIR

    builtin = WORKFLOW_DIR.parent / "config" / "profiles" / profile
    for candidate in (builtin, Path(profile)):
        if (candidate / "config.yaml").is_file():
            return candidate.resolve()
    names = sorted(p.name for p in builtin.parent.glob("*") if (p / "config.yaml").is_file())
    raise ConfigError(
        f"--profile {profile}: no such profile; give one of {', '.join(names)}"
        " or a folder holding a Snakemake profile config.yaml"
    )


def _read_profile(path: Path) -> dict:
    import yaml

    try:
        with open(path / "config.yaml", encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path / "config.yaml") from exc
    if not isinstance(data, dict):
        raise ConfigError("a profile must be a mapping of options", file=path / "config.yaml")
    return data


def check_slurm(*, dry_run: bool) -> None:
    """Raise ConfigError saying what to install or where to run when SLURM cannot be used here."""
    from microbiome.config import WORKFLOW_DIR

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        raise ConfigError(
            "--profile slurm needs Snakemake's SLURM executor plugin, which is not installed in"
            f" {sys.prefix}: install it from the checkout with `cd {WORKFLOW_DIR.parent} && pip"
            " install -e '.[slurm]'` (or `pip install snakemake-executor-plugin-slurm`)"
        )
    if shutil.which("sbatch") is None:
        message = (
            "--profile slurm: `sbatch` is not on PATH, so this is not a SLURM login node: run"
            " this command on your cluster's login node (there, maybe after `module load slurm`),"
            " or use --profile local"
        )
        if not dry_run:
            raise ConfigError(message)
        log.warning("warning: %s; the dry run below only shows the plan", message)


def _resource_value(value: object) -> str:
    text = str(value)
    for kind in (int, float):
        try:
            kind(text)
            return repr(text) if isinstance(value, str) else text
        except ValueError:
            pass
    return text


def snakemake_command(args: argparse.Namespace) -> list[str]:
    """The Snakemake command line for ``args`` (after the checks)."""
    from microbiome.config import WORKFLOW_DIR, absolute_paths, load_config

    for flag in ("cores", "jobs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag} must be at least 1, not {value}")
    profile = _profile_dir(args.profile)
    settings = _read_profile(profile)
    slurm = settings.get("executor") == "slurm"
    if not slurm:
        for flag in ("partition", "account", "jobs"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag} is for --profile slurm, not --profile {args.profile}")
    elif not args.unlock:
        check_slurm(dry_run=args.dry_run)

    if not args.unlock:
        # Every problem of the config and the sheets at once, before Snakemake starts.
        _validate(args.config, args.samples)
    config = load_config(args.config)
    if args.samples:
        config["samples"] = args.samples
    overrides = absolute_paths(config, os.getcwd())

    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(WORKFLOW_DIR / "Snakefile"),
        "--directory",
        os.path.abspath(args.directory),
        "--profile",
        str(profile),
        "--configfile",
        os.path.abspath(args.config),
        "--config",
        # Snakemake merges nested values into the config file's, but reads them as text: only
        # paths (text) go through here.
        *(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()),
    ]
    if args.cores is not None:
        cmd += ["--cores", str(args.cores)]
    if args.jobs is not None:
        cmd += ["--jobs", str(args.jobs)]
    if args.partition is not None or args.account is not None:
        # --default-resources on the command line replaces the profile's whole block: merge.
        resources = dict(settings.get("default-resources") or {})
        if args.partition is not None:
            resources["slurm_partition"] = args.partition
        if args.account is not None:
            resources["slurm_account"] = args.account
        cmd += ["--default-resources"]
        cmd += [f"{key}={_resource_value(value)}" for key, value in resources.items()]
    if args.dry_run:
        cmd += ["--dry-run"]
    if args.unlock:
        cmd += ["--unlock"]
    return cmd + list(args.snakemake_args)


def _validate(config: str, samples: str | None) -> None:
    from microbiome.cli import validate

    validate.run(argparse.Namespace(config=config, samples=samples))


def _wait(process: subprocess.Popen) -> int:
    """Wait for Snakemake; on Ctrl-C let it cancel its jobs and remove its lock, then return."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            log.warning("interrupted: waiting for Snakemake to cancel its jobs and stop")


def run(args: argparse.Namespace) -> int:
    """Check the inputs, run Snakemake, and say where everything is."""
    cmd = snakemake_command(args)
    workdir = Path(args.directory).resolve()
    log.info("running: %s", shlex.join(["snakemake", *cmd[3:]]))
    os.makedirs(workdir, exist_ok=True)
    env = dict(os.environ)
    # The rules call `microbiome`: make sure it is the one of this Python, also inside jobs.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    code = _wait(subprocess.Popen(cmd, env=env))
    if args.unlock:
        if code == 0:
            log.info("unlocked %s: run the same command without --unlock to resume", workdir)
        return code
    if args.dry_run:
        if code == 0:
            log.info("dry run: nothing was run; results would go to %s", workdir / "results")
        return code
    where = (
        f"results in {workdir / 'results'}, a log per job in {workdir / 'logs'},"
        f" timings in {workdir / 'results' / 'benchmarks'},"
        f" Snakemake's own log in {workdir / '.snakemake' / 'log'}"
    )
    if code == 0:
        log.info("done: %s", where)
        log.info(
            "report: `microbiome run ... -- --report %s` bundles the results in a browsable"
            " archive",
            workdir / "report.zip",
        )
        return 0
    log.error(
        "error: the run failed (Snakemake exit code %d); the failed jobs and their logs are"
        " listed above. %s. Fix the cause and run the same command again: finished results are"
        " kept. If Snakemake says the folder is locked and no other run uses it, add --unlock"
        " once.",
        code,
        where,
    )
    return 1
