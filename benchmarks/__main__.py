"""Run every benchmark in turn: `python -m benchmarks [--quick]` (`make bench`).

Each benchmark prints its own table of ratios against a reference measured in
the same run; see benchmarks/README.md for what each measures and its goals.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments for a full run, arguments for --quick)
BENCHMARKS = [
    (
        "bench_training.py",
        ["--rows", "1000000", "--repeats", "3"],
        ["--rows", "100000", "--repeats", "1"],
    ),
    ("bench_serving.py", [], ["--quick"]),
    ("bench_monitoring.py", ["--repeat", "5"], ["--quick"]),
    ("bench_pipeline.py", [], ["--repeats", "1"]),
    ("bench_transform.py", [], ["--quick"]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs of each")
    parser.add_argument(
        "--only",
        choices=[b[0].removesuffix(".py").removeprefix("bench_") for b in BENCHMARKS],
        action="append",
        help="run only these (repeatable)",
    )
    args = parser.parse_args(argv)
    if not args.only or "serving" in args.only:
        for tool, package in (("wrk", "wrk"), ("nginx", "nginx-light")):
            if shutil.which(tool) is None:
                print(
                    f"note: the serving benchmark needs {tool} "
                    f"(apt-get install -y {package})",
                    file=sys.stderr,
                )
    failed = []
    for script, full, quick in BENCHMARKS:
        name = script.removesuffix(".py").removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} ===", flush=True)
        code = subprocess.call(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        )
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
