"""CSV -> JSON records: the conversion the CLI (main.py) runs on each input file."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def convert_csv(source: Path) -> list[dict[str, str]]:
    """Each row as a dict keyed by the header line."""
    with source.open(newline="", encoding="utf-8") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def write_records(records: list[dict[str, str]], target: Path) -> None:
    target.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
