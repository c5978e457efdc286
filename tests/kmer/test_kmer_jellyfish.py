"""``microbiome kmer dump`` and ``histo`` against Debian's jellyfish 2 on the same reads.

CI installs jellyfish so this runs there; elsewhere it is skipped with the reason shown (-ra).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest
from conftest import READS

from microbiome.cli import kmer as kmer_cli
from microbiome.cli import main as cli_main

JELLYFISH = shutil.which("jellyfish")
pytestmark = pytest.mark.skipif(
    JELLYFISH is None, reason="jellyfish not installed (apt-get install jellyfish)"
)


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    """Real and simulated reads, uncompressed (jellyfish reads plain FASTQ)."""
    folder = tmp_path_factory.mktemp("jf")
    paths = []
    for name in ("ERR878216_R1.fastq.gz", "sim01_R1.fastq.gz", "sim01_R2.fastq.gz"):
        path = folder / name.removesuffix(".gz")
        with gzip.open(READS / name, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        paths.append(path)
    return paths


def _jellyfish(k, reads, folder):
    db = folder / f"jf{k}.jf"
    command = [JELLYFISH, "count", "-C", "-m", str(k), "-s", "4M", "-t", "2", "-o", str(db)]
    subprocess.run([*command, *map(str, reads)], check=True)
    dump = subprocess.run(
        [JELLYFISH, "dump", "-c", "-t", str(db)], check=True, capture_output=True
    ).stdout
    histo = subprocess.run([JELLYFISH, "histo", str(db)], check=True, capture_output=True).stdout
    return dump, histo


@pytest.mark.parametrize("k", [21, 31])
def test_dump_and_histo_equal_jellyfish(k, reads, tmp_path, capfdbinary, monkeypatch):
    if kmer_cli not in cli_main.SUBCOMMANDS:
        monkeypatch.setattr(cli_main, "SUBCOMMANDS", (*cli_main.SUBCOMMANDS, kmer_cli))
    jf_dump, jf_histo = _jellyfish(k, reads, tmp_path)
    out = tmp_path / "mb.kmers"
    assert (
        cli_main.main(["kmer", "count", "-k", str(k), "-t", "2", "-o", str(out), *map(str, reads)])
        == 0
    )
    capfdbinary.readouterr()
    assert cli_main.main(["kmer", "dump", str(out)]) == 0
    ours = capfdbinary.readouterr().out
    theirs = b"".join(sorted(jf_dump.splitlines(keepends=True)))  # byte order = C locale sort
    assert ours.count(b"\n") == theirs.count(b"\n") > 100_000
    assert ours == theirs
    assert cli_main.main(["kmer", "histo", str(out)]) == 0
    ours_h = [line.split() for line in capfdbinary.readouterr().out.splitlines()]
    assert ours_h == [line.split() for line in jf_histo.splitlines()]
