"""The command line, in-process: version, help everywhere, stats and merge-stats outputs."""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import READS

from microbiome import __version__
from microbiome.cli.main import build_parser, main


def all_commands(parser=None, prefix=()):
    """Every (sub)command path of the parser, e.g. ('stats',), ('kmer', 'count')."""
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from all_commands(sub, (*prefix, name))


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"microbiome {__version__}"


@pytest.mark.parametrize("command", [(), *all_commands()], ids=lambda c: " ".join(c) or "main")
def test_help_on_every_command(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: microbiome")
    assert "--debug" in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: microbiome" in capsys.readouterr().err


def test_stats_json_and_merge(tmp_path, capsys, threads):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    assert (
        main(
            [
                "stats",
                str(READS / "sim01_R1.fastq.gz"),
                str(READS / "sim01_R2.fastq.gz"),
                "--paired",
                "-s",
                "sim01",
                "-t",
                str(threads),
                "-o",
                str(a),
            ]
        )
        == 0
    )
    assert main(["stats", str(READS / "SRR514303_SE.fastq.gz"), "-o", str(b), "-q"]) == 0
    first = json.loads(a.read_text())
    assert first["sample_id"] == "sim01" and first["layout"] == "paired" and first["pairs"] == 4000
    assert [f["mate"] for f in first["files"]] == ["R1", "R2"]
    assert sum(first["files"][0]["length_histogram"].values()) == 4000
    assert sum(first["files"][0]["quality_histogram"].values()) == 600_000
    second = json.loads(b.read_text())
    assert second["sample_id"] == "SRR514303_SE" and second["layout"] == "single"
    capsys.readouterr()

    merged = tmp_path / "merged.tsv"
    assert main(["merge-stats", str(a), str(b), "-o", str(merged)]) == 0
    lines = [line.split("\t") for line in merged.read_text().splitlines()]
    assert lines[0][:4] == ["sample_id", "layout", "mate", "file"]
    assert [(row[0], row[2], row[4]) for row in lines[1:]] == [
        ("sim01", "R1", "4000"),
        ("sim01", "R2", "4000"),
        ("SRR514303_SE", "SE", "2500"),
    ]


def test_stats_prints_a_table_without_output(capsys):
    assert main(["stats", str(READS / "SRR514303_SE.fastq.gz")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].split("\t")[4] == "2500"


def test_merge_refuses_other_json_and_duplicates(tmp_path, capsys):
    other = tmp_path / "x.json"
    other.write_text('{"a": 1}')
    assert main(["merge-stats", str(other)]) == 1
    assert "not a statistics file" in capsys.readouterr().err
    broken = tmp_path / "y.json"
    broken.write_text('{"a": ')
    assert main(["merge-stats", str(broken)]) == 1
    assert "y.json, line 1: not valid JSON" in capsys.readouterr().err
