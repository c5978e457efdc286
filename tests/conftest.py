"""Shared fixtures: paths to the bundled data, a threads fixture, and FASTQ writers."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "test_data"
READS = TEST_DATA / "reads"


@pytest.fixture(params=[1, 2], ids=["threads1", "threads2"])
def threads(request) -> int:
    """Run a test with one and with two threads, so the parallel path is always tested."""
    return request.param


def fastq_text(records) -> str:
    """FASTQ text of (name, sequence, qualities) records."""
    return "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in records)


def write_fastq(path: Path, records, *, compress: bool | None = None) -> Path:
    """Write records as FASTQ (gzip if the name ends in .gz or compress is True)."""
    text = fastq_text(records)
    if compress or (compress is None and path.suffix == ".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def random_records(rng, n, *, min_len=1, max_len=200, alphabet="ACGTN", prefix="r", mate=None):
    """Random reads with qualities; names like r12/1 when mate is given."""
    records = []
    for i in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        seq = "".join(rng.choice(list(alphabet), size=length))
        qual = "".join(chr(33 + int(q)) for q in rng.integers(0, 42, size=length))
        name = f"{prefix}{i}" + (f"/{mate}" if mate else "")
        records.append((name, seq, qual))
    return records


#: Kraken 2 is installed (the tests of the kraken2 backend skip, saying so, when it is not).
KRAKEN2 = bool(shutil.which("kraken2") and shutil.which("kraken2-build"))


def kraken2_database(folder):
    """A Kraken 2 database of the 13 reference pieces (kraken:taxid headers, NCBI subset)."""
    (folder / "taxonomy").mkdir(parents=True)
    for name in ("nodes.dmp", "names.dmp"):
        shutil.copy(TEST_DATA / "taxonomy" / name, folder / "taxonomy" / name)
    genomes = pd.read_csv(TEST_DATA / "references" / "genomes.tsv", sep="\t").drop_duplicates(
        "file"
    )
    library = folder / "refs.fa"
    with open(library, "w") as out:
        for file, taxid in zip(genomes["file"], genomes["taxid"], strict=True):
            with gzip.open(TEST_DATA / "references" / file, "rt") as f:
                for line in f:
                    if line.startswith(">"):
                        line = f">{line[1:].split()[0]}|kraken:taxid|{taxid}\n"
                    out.write(line)
    for args in (
        ["--add-to-library", str(library), "--no-masking"],
        ["--build", "--threads", "2"],
    ):
        subprocess.run(
            ["kraken2-build", *args, "--db", str(folder)], check=True, capture_output=True
        )
    return folder


#: Test files that take minutes (measured on two cores: SLURM ~5 min, the two resume runs and
#: the demo runs ~3 min each): with pytest-xdist's workers (-n, pyproject.toml) they start first,
#: on separate workers, and the quicker files fill the gaps.
LONGEST_FIRST = ("test_slurm.py", "test_resume.py", "test_workflow.py")
#: Seconds a slow end-to-end test may take (the SLURM one ~11 minutes on an idle machine).
SLOW_TIMEOUT = 3600


def pytest_collection_modifyitems(config, items):
    """Files with slow end-to-end tests first, the longest of them first; a file's tests stay
    together (--dist loadfile), so that its module fixtures are set up once."""
    slow_files = {item.path.name for item in items if item.get_closest_marker("slow")}

    def order(item):
        name = item.path.name
        return (
            LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST),
            name not in slow_files,
        )

    items.sort(key=order)  # stable: each file's tests keep their order
    for item in items:  # pyproject's timeout is for the others
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
