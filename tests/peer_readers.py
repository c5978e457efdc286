"""Python twins of how Pavian and KrakenTools read a Kraken-style report.

Neither tool can be installed here: KrakenTools is on neither PyPI nor Debian (bioconda only),
and Pavian is an R/Shiny package installed from GitHub. These functions follow, rule by rule,
the parsing code of the versions named below (read from their sources, not copied: both are
GPL-3), so that a test can say "Pavian would accept this file and would see these numbers".
Each rule that can refuse a file raises :class:`Refused` with the reason the tool would give
(Pavian returns NULL and logs a warning; KrakenTools crashes with a Python exception).

* Pavian, ``R/datainput-read_report.R`` (fbreitwieser/pavian at
  ce494498d4893bb2060d67e23e48836dffe57f4e), function ``read_report``: the path taken by a
  Kraken 2 report (no header line, 6 or 8 tab-separated columns).
* KrakenTools (jenniferlu717/KrakenTools): ``kreport2mpa.py`` at
  45015ca60c5f24cc821bc8beddc6097634c443e9 and ``combine_kreports.py`` at
  039bdaccb15caf46014b4b40a66018041e57c6ce.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path


class Refused(Exception):
    """The tool would not read the file (Pavian: NULL; KrakenTools: an exception)."""


def _lines(path: str | Path) -> list[str]:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


# --- Pavian ------------------------------------------------------------------------------------

#: Pavian keeps these one-letter ranks; every other code (R, R1, S1, D1, ...) becomes "-".
PAVIAN_RANKS = {"U", "S", "G", "F", "C", "D", "O", "K", "P"}


def pavian_read_report(path: str | Path) -> list[dict]:
    """Pavian's ``read_report`` on a Kraken 2 report: one dict per row.

    Keys: ``percentage`` (``signif(cladeReads / sum(taxonReads), 6) * 100``), ``cladeReads``,
    ``taxonReads``, ``taxRank`` (the code Pavian keeps, or ``-``), ``taxID``, ``name``
    (``<lower-case rank>_<name>``, e.g. ``s_Escherichia coli``, ``-_root``), ``depth``,
    ``taxLineage`` (the names from the top down, joined by ``|``).
    """
    lines = _lines(path)
    if not lines:
        raise Refused("could not read the file")
    first = lines[0]
    if first == "":
        raise Refused("the first line is empty")
    if not all(b == 9 or 32 <= b <= 127 for b in first.encode("utf-8")):
        raise Refused("the first line is not ASCII")
    if re.match(r'^[a-zA-Z#%"]', first):
        raise Refused("the first line is a header (a report format this twin does not follow)")
    ntabs = first.count("\t")
    if ntabs == 5:
        columns = ["percentage", "cladeReads", "taxonReads", "taxRank", "taxID", "name"]
    elif ntabs == 7:
        columns = ["percentage", "cladeReads", "taxonReads", "n_kmers", "n_unique_kmers"]
        columns += ["taxRank", "taxID", "name"]
    else:
        raise Refused(f"{ntabs + 1} columns: read.table has no column names for them")
    rows = []
    for number, line in enumerate(lines, 1):
        # utils::read.table(sep="\t", quote="", comment.char="#"): a '#' ends the line, blank
        # lines are skipped, every other line needs exactly the named columns.
        line = line.split("#", 1)[0]
        if line.strip() == "":
            continue
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise Refused(f"line {number} did not have {len(columns)} elements")
        row = dict(zip(columns, fields, strict=True))
        try:
            for key in ("percentage", "cladeReads", "taxonReads", "taxID"):
                row[key] = float(row[key])
        except ValueError:
            raise Refused(f"line {number}: a number column is not a number") from None
        rows.append(row)
    for row in rows:
        leading = re.match(r"^\s*", row["name"]).group(0)
        if len(leading) % 2:
            raise Refused("Depth doesn't work out!")
        row["depth"] = len(leading) // 2
        name = re.sub(r"^ *", "", row["name"])
        rank = row["taxRank"]
        if name == "unclassified":
            rank = "U"
        if rank not in PAVIAN_RANKS:
            rank = "-"
        row["taxRank"] = rank
        row["name"] = f"{rank.lower()}_{name}"
    # The lineage: each row's parent is the last row seen one level up (Pavian's
    # depth_row_tmp, which starts as 1:25 and so names row d as the parent at depth d - 1
    # when no row of that depth came before).
    last_at_depth = list(range(25))
    paths: list[list[int]] = []
    for i, row in enumerate(rows):
        depth = row["depth"]
        while len(last_at_depth) <= depth:
            last_at_depth.append(len(last_at_depth))
        last_at_depth[depth] = i
        if depth >= 1:
            parent = last_at_depth[depth - 1]
            if parent >= len(rows):
                raise Refused("subscript out of bounds (a row deeper than any row above it)")
            # a parent not reached yet still has its initial lineage: itself
            paths.append([*(paths[parent] if parent < i else [parent]), i])
        else:
            paths.append([i])
    for row, rows_above in zip(rows, paths, strict=True):
        row["taxLineage"] = "|".join(rows[j]["name"] for j in rows_above)
    names = [r["name"] for r in rows]
    if len(rows) < 2 or not (names[:2] == ["u_unclassified", "-_root"] or names[0] == "-_root"):
        raise Refused("does not have the required format (u_unclassified, then -_root)")
    total = sum(r["taxonReads"] for r in rows)
    for row in rows:
        row["percentage"] = float(f"{row['cladeReads'] / total:.6g}") * 100 if total else None
    return rows


# --- KrakenTools --------------------------------------------------------------------------------


def kreport2mpa(path: str | Path, *, intermediate_ranks: bool = False) -> list[tuple[str, int]]:
    """``kreport2mpa.py -r REPORT -o OUT [--intermediate-ranks]``: the (path, reads) lines.

    A path is ``k__Bacteria|p__Bacillota|...|s__Enterococcus_faecalis`` (``D`` and ``K``
    both become ``k__``; other ranks ``x__``, kept only with ``intermediate_ranks``; spaces in
    names become ``_``); reads are the clade's. The unclassified line and the root are left
    out; a line indented more than one level below the line above crashes the script.
    """
    main_levels = {"R", "K", "D", "P", "C", "O", "F", "G", "S"}
    out: list[tuple[str, int]] = []
    path_now: list[str] = []
    previous = -1
    for number, line in enumerate(_lines(path), 1):
        fields = line.strip().split("\t")
        if len(fields) < 4:
            continue
        try:
            clade = int(fields[1])
        except ValueError:
            continue  # a header line
        try:
            float(fields[0])
            int(fields[-3])
        except ValueError:
            pass  # the Kraken layout: rank code third-last, taxid second-last
        else:
            raise Refused(f"line {number}: KrakenUniq's layout, which this twin does not follow")
        try:
            int(fields[-2])
        except ValueError:
            raise Refused(f"line {number}: ValueError: the taxid is not a number") from None
        code, name = fields[-3], fields[-1]
        depth = (len(name) - len(name.lstrip(" "))) / 2
        if code == "U":
            continue
        if code not in main_levels:
            code = "x"
        elif code in ("K", "D"):
            code = "k"
        level = code.lower() + "__" + name.lstrip(" ").replace(" ", "_")
        if previous == -1:
            previous = depth
            path_now.append(level)
            continue
        while depth != previous + 1:
            previous -= 1
            if not path_now:
                raise Refused(f"line {number}: IndexError: pop from empty list")
            path_now.pop()
        if code != "x" or intermediate_ranks:
            kept = [s for s in path_now if (s[0] != "x" or intermediate_ranks) and s[0] != "r"]
            out.append(("|".join([*kept, level]), clade))
        path_now.append(level)
        previous = depth
    return out


def combine_kreports(paths: list[str | Path]) -> dict:
    """``combine_kreports.py -r R1 R2 ... -o OUT``: the combined tree's numbers.

    Returns ``{"total": reads of every report, "unclassified": {sample: reads},
    "taxa": {taxid: {"name", "rank", "all": {sample: clade reads}, "lvl": {sample: direct
    reads}, "tot_all", "tot_lvl"}}}`` with samples numbered from 1 (``rank`` is the report's
    code; the script writes ``-`` and numbered codes anew). The root is the line of taxid 1,
    taken from the first report; the unclassified line is the one of rank ``U`` or taxid 0;
    columns 2-5 are read by position (an 8-column report is misread).
    """
    total = 0
    unclassified: dict[int, int] = {}
    taxa: dict[str, dict] = {}
    root = None
    for sample, path in enumerate(paths, 1):
        stack: list[tuple[int, str]] = []  # (depth, taxid) of the current path
        for line in _lines(path):
            fields = line.strip().split("\t")
            try:
                clade = int(fields[1])
            except (ValueError, IndexError):
                continue  # a header line (an empty line crashes the script: IndexError)
            direct, code, taxid, name = int(fields[2]), fields[3], fields[4], fields[-1]
            depth = (len(name) - len(name.lstrip(" "))) // 2
            name = name.lstrip(" ")
            total += direct
            if code == "U" or taxid == "0":
                unclassified[sample] = direct
                continue
            if taxid == "1":
                if sample == 1:
                    root = {"name": name, "rank": "R", "all": {}, "lvl": {}, "depth": depth}
                    taxa["1"] = root
                if root is None:
                    raise Refused("AttributeError: the first report has no root line")
                root["all"][sample], root["lvl"][sample] = clade, direct
                stack = [(depth, "1")]
                continue
            if not stack:
                raise Refused("AttributeError: a taxon line before any root line")
            while stack and depth != stack[-1][0] + 1:
                stack.pop()
            if not stack:
                raise Refused(f"AttributeError: no parent one level above {name!r}")
            node = taxa.setdefault(taxid, {"name": name, "rank": code, "all": {}, "lvl": {}})
            node["all"][sample], node["lvl"][sample] = clade, direct
            stack.append((depth, taxid))
    if root is None:
        raise Refused("AttributeError: no report has a root line in the first place")
    for node in taxa.values():
        node["tot_all"], node["tot_lvl"] = sum(node["all"].values()), sum(node["lvl"].values())
    return {"total": total, "unclassified": unclassified, "taxa": taxa}
