"""Bad input at the command line's boundary (issue 13): outputs that are devices, FIFOs, links,
folders or stdout; system errors (full disk, read-only folder) as one line; sample names that
would point outside the output folder; one file given as both mates; usage errors.

Device nodes are made in the test's temporary folder with os.mknod (root only), never in /dev:
major 1, minor 3 behaves as /dev/null, major 1, minor 7 as /dev/full.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import READS

from microbiome.cli.main import main
from microbiome.io.samplesheet import check_sample_id, load_sample_sheet
from microbiome.report.cohort import file_stem

R1 = READS / "sim01_R1.fastq.gz"
R2 = READS / "sim01_R2.fastq.gz"


def char_device(path: Path, minor: int) -> Path:
    """A character device like /dev/null (minor 3) or /dev/full (minor 7) at ``path``."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making device nodes needs root")
    return path


def errors(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def stats_json(capsys, *extra) -> dict:
    """What `stats R1` writes as JSON (the reference for the outputs below)."""
    assert main(["stats", str(R1), "-q", "-o", "-", *extra]) == 0
    return json.loads(capsys.readouterr().out)


# --- Outputs that are not regular files ---------------------------------------------------------


def test_output_to_a_null_device_writes_through(tmp_path, capsys):
    null = char_device(tmp_path / "null", 3)
    assert main(["stats", str(R1), "-q", "-o", str(null), "--tsv", str(null)]) == 0
    assert errors(capsys) == []
    assert stat.S_ISCHR(null.lstat().st_mode)  # still the device, not a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary left


@pytest.mark.parametrize(
    "command",
    [["kmer", "count", "-k", "21"], ["kmer", "sketch"], ["kmer", "count", "-k", "21", "-t", "2"]],
    ids=["kmer count", "kmer sketch", "kmer count threads2"],
)
def test_binary_writers_write_through_to_a_null_device(tmp_path, capsys, command):
    # kmer count writes its file at offsets (pwrite), which a device allows but cannot truncate.
    null = char_device(tmp_path / "null", 3)
    assert main([*command, str(R1), "-q", "-o", str(null)]) == 0
    assert errors(capsys) == []
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_output_to_a_full_device_is_a_one_line_error(tmp_path, capsys):
    full = char_device(tmp_path / "full", 7)
    assert main(["stats", str(R1), "-q", "-o", str(full)]) == 1
    assert errors(capsys) == [f"microbiome: error: {full}: No space left on device"]
    assert stat.S_ISCHR(full.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_debug_shows_the_system_error(tmp_path):
    full = char_device(tmp_path / "full", 7)
    with pytest.raises(OSError, match="No space left on device"):
        main(["stats", str(R1), "-q", "-o", str(full), "--debug"])


def test_stdout_to_a_full_device_is_a_one_line_error(tmp_path):
    full = char_device(tmp_path / "full", 7)
    with open(full, "w") as stdout:
        result = subprocess.run(
            [Path(sys.executable).parent / "microbiome", "stats", str(R1), "-q"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["microbiome: error: <stdout>: No space left on device"]


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    # `microbiome kmer dump ... | head -1`: the broken pipe ends the command quietly, exit 0.
    counts = tmp_path / "c.kmers"
    assert main(["kmer", "count", "-k", "21", str(R1), "-o", str(counts), "-q"]) == 0
    dump = subprocess.Popen(
        [Path(sys.executable).parent / "microbiome", "kmer", "dump", str(counts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with dump:  # closes the pipes
        assert dump.stdout.readline().count(b"\t") == 1
        dump.stdout.close()
        assert dump.wait(timeout=300) == 0
        assert dump.stderr.read() == b""


def test_output_to_a_fifo_writes_through(tmp_path, capsys):
    expected = stats_json(capsys)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["stats", str(R1), "-q", "-o", str(fifo)]) == 0
    reader.join(timeout=60)
    assert json.loads(received[0]) == expected
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_dash_is_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["stats", str(R1), "-q", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["reads"] == 4000
    assert list(tmp_path.iterdir()) == []  # no file named '-'


@pytest.mark.parametrize("dangling", [False, True], ids=["existing", "dangling"])
def test_symlink_output_writes_its_target(tmp_path, capsys, dangling):
    expected = stats_json(capsys)
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "stats.json"
    if not dangling:
        target.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert main(["stats", str(R1), "-q", "-o", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == target
    assert json.loads(target.read_text()) == expected
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["stats.json"]


def test_directory_output_is_refused(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["stats", str(R1), "-q", "-o", str(folder)]) == 2
    assert errors(capsys) == [
        f"microbiome: error: {folder}: is a directory: give the name of a file to write"
    ]
    assert list(folder.iterdir()) == []


# --- System errors: one line naming the path ---------------------------------------------------


def test_output_under_a_file_is_a_one_line_error(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    out = file / "stats.json"
    assert main(["stats", str(R1), "-q", "-o", str(out)]) == 1
    assert errors(capsys) == [f"microbiome: error: {out}: Not a directory"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can create files in, root included: immutable (chattr +i), or where that
    is not possible and the tests do not run as root, without write permission."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    immutable = bool(shutil.which("chattr")) and (
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    )
    if not immutable:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders, and chattr +i is not possible here")
        folder.chmod(0o555)
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_read_only_folder_is_a_one_line_error(read_only_folder, capsys):
    out = read_only_folder / "stats.json"
    assert main(["stats", str(R1), "-q", "-o", str(out)]) == 1
    [line] = errors(capsys)
    assert line.startswith(f"microbiome: error: {out}: ")
    assert line.endswith(("Operation not permitted", "Permission denied"))
    assert list(read_only_folder.iterdir()) == []


def test_qc_into_a_read_only_folder_is_a_one_line_error(read_only_folder, capsys):
    assert main(["qc", "-1", str(R1), "-2", str(R2), "-o", str(read_only_folder), "-q"]) == 1
    [line] = errors(capsys)
    assert line.startswith(f"microbiome: error: {read_only_folder}: "), line
    assert list(read_only_folder.iterdir()) == []


def test_qc_into_a_file_is_a_one_line_error(tmp_path, capsys):
    file = tmp_path / "out"
    file.write_text("x")
    assert main(["qc", "-1", str(R1), "-o", str(file), "-q"]) == 1
    assert errors(capsys) == [f"microbiome: error: {file}: Not a directory"]


# --- Sample names -------------------------------------------------------------------------------


SAMPLE_OPTIONS = {
    "stats": ["stats", str(R1), "-s", "{bad}"],
    "qc": ["qc", "-1", str(R1), "-o", "{out}", "-s", "{bad}"],
    "classify": ["classify", "--db", "x.mbdb", "-1", str(R1), "--report", "{out}/r", "-s", "{bad}"],
    "classify-import": ["classify-import", "--kraken-report", "k", "--tsv", "t", "-s", "{bad}"],
    "kmer sketch": ["kmer", "sketch", str(R1), "-o", "{out}/s", "-n", "{bad}"],
    "report": ["report", "--taxa", "x.tsv", "-o", "{out}", "--patient", "{bad}"],
}


@pytest.mark.parametrize("bad", ["../X", "a/b", ".hidden", "", "a b", "x" * 65, "S1\n"])
@pytest.mark.parametrize("command", SAMPLE_OPTIONS)
def test_sample_names_are_checked_in_every_command(tmp_path, capsys, command, bad, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = [a.format(bad=bad, out=out) for a in SAMPLE_OPTIONS[command]]
    option = {"-s": "-s/--sample-id", "-n": "-n/--name"}.get(argv[-2], argv[-2])
    assert main(argv) == 2
    [line] = errors(capsys)
    assert line.startswith(f"microbiome: error: {option}: {bad!r} is not a valid ID ("), line
    assert "letters, digits" in line
    assert list(tmp_path.rglob("*")) == []  # nothing written, inside or outside the folder


@pytest.mark.parametrize("patient", ["P01", "_P1", ".hidden", "P 01/x", "..", "Ünïcode"])
def test_report_file_names_are_valid_patient_names(patient):
    # The workflow asks for each patient's report by its file name (report --patient).
    stem = file_stem(patient)
    assert check_sample_id(stem, "--patient", column="patient_id") == stem


# --- One file given as both mates -----------------------------------------------------------------


@pytest.fixture(params=["same path", "other spelling", "symlink", "hard link"])
def same_mates(request, tmp_path):
    """Two names of one reads file."""
    first = tmp_path / "reads" / "a_R1.fq.gz"
    first.parent.mkdir()
    shutil.copy(R1, first)
    second = {
        "same path": first,
        "other spelling": tmp_path / "reads" / ".." / "reads" / "a_R1.fq.gz",
        "symlink": tmp_path / "a_R2.fq.gz",
        "hard link": tmp_path / "b_R2.fq.gz",
    }[request.param]
    if request.param == "symlink":
        second.symlink_to(first)
    elif request.param == "hard link":
        os.link(first, second)
    return first, second


@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--paired", "{r1}", "{r2}"],
        ["qc", "-1", "{r1}", "-2", "{r2}", "-o", "{out}"],
        ["classify", "--db", "x.mbdb", "-1", "{r1}", "-2", "{r2}", "--report", "{out}/r"],
    ],
    ids=lambda c: c[0],
)
def test_one_file_as_both_mates_is_refused(tmp_path, capsys, same_mates, command):
    r1, r2 = same_mates
    out = tmp_path / "out"
    argv = [a.format(r1=r1, r2=r2, out=out) for a in command]
    assert main(argv) == 2
    [line] = errors(capsys)
    assert line.startswith("microbiome: error: ") and "are the same file" in line, line
    assert not out.exists()


def test_sample_sheet_refuses_a_hard_link_as_mate_2(tmp_path):
    shutil.copy(R1, tmp_path / "a_R1.fq.gz")
    os.link(tmp_path / "a_R1.fq.gz", tmp_path / "a_R2.fq.gz")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample_id\tfastq_1\tfastq_2\nA\ta_R1.fq.gz\ta_R2.fq.gz\n")
    with pytest.raises(Exception, match="fastq_1 and fastq_2 are the same file"):
        load_sample_sheet(sheet)


# --- Usage errors: the prefix once ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--version"], "unrecognized arguments: --version"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["qc", "-1", "x", "-o", "y", "--bogus"], "unrecognized arguments: --bogus"),
        (["qc", "--bogus"], "qc: the following arguments are required: -1, -o/--outdir"),
        (["kmer", "count"], "kmer count: the following arguments are required"),
        (["stats", "x", "-t", "two"], "stats: argument -t/--threads: invalid int value: 'two'"),
    ],
)
def test_usage_errors_name_the_program_once(capsys, argv, message):
    assert main(argv) == 2
    [line] = errors(capsys)
    assert line.startswith("microbiome: error: ") and message in line, line
    assert line.count("microbiome") == 1, line
