"""The samples to leave out of the statistics, from the sample status table.

``results/tables/sample_status.tsv`` (written by ``microbiome sample-status``) holds one verdict
per sample, decided once; diversity, integration and the reports read it with
:func:`read_exclusions` and leave out the samples whose ``excluded`` is ``yes``, saying why. A
sample that is not in the table is kept: the table covers the samples it knows.
"""

from __future__ import annotations

import csv
import os

from microbiome.errors import InputError
from microbiome.io.tables import text_lines

#: Columns this reader needs (the table has more: the verdicts and their reasons).
REQUIRED_COLUMNS = ("sample_id", "excluded", "exclusion_reason")


def read_exclusions(path: str | os.PathLike) -> dict[str, str]:
    """Sample ID -> reason, for every sample of the status table with ``excluded == yes``.

    Parameters
    ----------
    path : str or os.PathLike
        The sample status TSV (columns ``sample_id``, ``excluded`` = yes|no,
        ``exclusion_reason``, and others, in any order).

    Returns
    -------
    dict of str to str
        In the table's order; the reason is ``exclusion_reason``, or ``"excluded by the sample
        status"`` when that is empty.

    Raises
    ------
    InputError
        Naming the file (line, column) when it is missing, lacks a required column, repeats a
        sample, or has an ``excluded`` value other than yes or no.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("sample status table not found", file=path)
    header: list[str] | None = None
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, line in text_lines(path):
        if line.startswith("#") or not line.strip():
            continue
        cells = next(csv.reader([line], delimiter="\t"))
        if header is None:
            header = [c.strip() for c in cells]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(
                    f"not a sample status table: no column {', '.join(missing)} (columns: "
                    f"{', '.join(header)})",
                    file=path,
                    line=number,
                )
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=False))
        sample = row.get("sample_id", "")
        if not sample:
            raise InputError("empty sample ID", file=path, line=number, column="sample_id")
        if sample in seen:
            raise InputError(
                f"sample {sample!r} appears twice (first on line {seen[sample]})",
                file=path,
                line=number,
                column="sample_id",
            )
        seen[sample] = number
        flag = row.get("excluded", "").lower()
        if flag not in ("yes", "no"):
            raise InputError(
                f"excluded is {row.get('excluded', '')!r}, expected yes or no",
                file=path,
                line=number,
                column="excluded",
            )
        if flag == "yes":
            out[sample] = row.get("exclusion_reason", "") or "excluded by the sample status"
    if header is None:
        raise InputError("empty sample status table", file=path)
    return out
