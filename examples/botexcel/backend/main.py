"""botexcel's command-line converter (argparse). Not the web app: that is api.py,
served by `gunicorn api:app`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converter import convert_csv, write_records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="convert CSV exports to JSON records")
    parser.add_argument("inputs", nargs="+", type=Path, help="CSV files to convert")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="output directory")
    parser.add_argument("--yes", action="store_true", help="overwrite existing outputs")
    parser.add_argument(
        "--ai", action="store_true", help="summarise with a model (not in this example)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ai:
        print("--ai is not part of this example", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    for source in args.inputs:
        target = args.output / (source.stem + ".json")
        if target.exists() and not args.yes:
            print(f"{target} exists (use --yes to overwrite)", file=sys.stderr)
            return 1
        write_records(convert_csv(source), target)
        print(f"{source} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
