"""Reads that cannot be read: stats and qc say what the file is (a directory, a dangling link, not
readable) and where a truncated compressed file breaks off, in one line (issue 13)."""

from __future__ import annotations

import gzip
import io
import re
import socket

import pytest
from conftest import READS

from microbiome.cli.main import main

R1, R2 = READS / "sim01_R1.fastq.gz", READS / "sim01_R2.fastq.gz"

COMMANDS = {
    "stats": lambda bad, out: ["stats", str(bad), "-o", str(out / "s.json")],
    "stats_paired": lambda bad, out: ["stats", str(R1), str(bad), "--paired",
                                      "-o", str(out / "s.json")],
    "qc": lambda bad, out: ["qc", "-1", str(bad), "-o", str(out), "-t", "1"],
    "qc_threads": lambda bad, out: ["qc", "-1", str(bad), "-o", str(out), "-t", "2"],
    "qc_paired": lambda bad, out: ["qc", "-1", str(R1), "-2", str(bad), "-o", str(out), "-t", "2"],
}  # fmt: skip


def one_error(capsys, argv, tmp_path):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    errors = [line for line in err if line.startswith("microbiome: error: ")]
    assert len(errors) == 1 and err[-1] == errors[0], err  # info lines may come before it
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.iterdir() if not p.is_dir()]
    return errors[0]


def complete_lines(data: bytes) -> int:
    """Lines the gzip module gets out of (truncated) gzip data before it fails."""
    lines = 0
    with gzip.open(io.BytesIO(data)) as f:
        try:
            for _ in f:
                lines += 1
        except EOFError:
            pass
    return lines


@pytest.mark.parametrize("command", COMMANDS)
def test_truncated_gzip_names_the_line_where_it_breaks(tmp_path, capsys, command):
    data = R2.read_bytes()
    bad = tmp_path / "trunc_R2.fq.gz"
    bad.write_bytes(data[: len(data) // 2])
    error = one_error(capsys, COMMANDS[command](bad, tmp_path / "out"), tmp_path)
    match = re.match(rf"microbiome: error: {re.escape(str(bad))}, line (\d+): compressed file is "
                     r"truncated or corrupt", error)  # fmt: skip
    assert match, error
    line, truth = int(match.group(1)), complete_lines(bad.read_bytes())
    total = complete_lines(data)
    assert 1 < line <= truth and line > 0.4 * total, (line, truth, total)


@pytest.mark.parametrize("command", COMMANDS)
def test_directory_dangling_link_and_unreadable_file(tmp_path, capsys, command):
    folder = tmp_path / "dir.fq.gz"
    folder.mkdir()
    error = one_error(capsys, COMMANDS[command](folder, tmp_path / "out"), tmp_path)
    assert error.endswith(f"{folder}: is a directory, not a reads file"), error
    assert "gzip" not in error

    link = tmp_path / "link.fq.gz"
    link.symlink_to(tmp_path / "gone.fq.gz")
    error = one_error(capsys, COMMANDS[command](link, tmp_path / "out"), tmp_path)
    assert error.endswith(f"{link}: is a dangling symbolic link (to {tmp_path / 'gone.fq.gz'})")

    # A Unix socket exists and has the permission bits of a readable file, but open() fails
    # (ENXIO) even for root: the system's reason is reported.
    sock = tmp_path / "s.fq.gz"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        error = one_error(capsys, COMMANDS[command](sock, tmp_path / "out"), tmp_path)
    finally:
        server.close()
    assert error.endswith(f"{sock}: cannot be read: No such device or address"), error
