"""Benchmark `baseline` and `monitor` against the cost of merely reading their input.

    .venv/bin/python benchmarks/bench_monitoring.py            # full: 1M-row baseline
    .venv/bin/python benchmarks/bench_monitoring.py --quick    # 100k rows, 20k records
    .venv/bin/python benchmarks/bench_monitoring.py --only model-quality --quick

Model quality: 10k, 100k and (full run only) 1M capture records, each with its
ground-truth record.

Ratios, not absolute times, are the result: each job is compared with a
reference measured in the same run on the same files (pyarrow's multi-threaded
CSV read for `baseline`; `json.loads` of every capture line for `monitor`;
`json.loads` of every capture and ground-truth line for the model-quality
`monitor`, which runs through its entry point with the processing-job
environment a ModelQualityMonitor schedule sets).
Every measurement runs in its own child process so peak RSS is that of one
job, and timing starts after imports. Reference and job run alternately
--repeat times; the ratio reported is the median of the pairs' ratios, which
a machine shared with other work disturbs least.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# --- data ----------------------------------------------------------------------
def write_table_csv(path: Path, rows: int, seed: int = 0) -> None:
    """rows x 10 columns: 5 Fractional, 3 Integral, 2 String."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    columns = {f"f{i}": rng.normal(i, 1 + i, rows).round(3) for i in range(5)}
    columns.update({f"i{i}": rng.integers(0, 1000 * (i + 1), rows) for i in range(3)})
    columns["colour"] = rng.choice(np.array(["red", "green", "blue", "grey"]), rows)
    columns["city"] = rng.choice(np.array([f"city{j}" for j in range(50)]), rows)
    pacsv.write_csv(pa.table(columns), path)


def write_capture(folder: Path, records: int, seed: int = 1) -> None:
    """`records` captured CSV requests (one row each) spread over 4 hour folders."""
    rng = np.random.default_rng(seed)
    per_hour = records // 4
    for hour in range(4):
        target = folder / "bench-endpoint" / "AllTraffic" / f"2026/04/18/{hour:02d}"
        target.mkdir(parents=True, exist_ok=True)
        f = rng.normal(0, 1, (per_hour, 5)).round(3)
        n = rng.integers(0, 1000, (per_hour, 3))
        colours = rng.choice(np.array(["red", "green", "blue", "grey"]), per_hour)
        cities = rng.choice(np.array([f"city{j}" for j in range(50)]), per_hour)
        with (target / "00-00-000-bench.jsonl").open("w") as fh:
            for r in range(per_hour):
                data = ",".join(
                    [*map(str, f[r]), *map(str, n[r]), colours[r], cities[r]]
                )
                fh.write(
                    json.dumps(
                        {
                            "captureData": {
                                "endpointInput": {
                                    "observedContentType": "text/csv",
                                    "mode": "INPUT",
                                    "data": data,
                                    "encoding": "CSV",
                                }
                            },
                            "eventMetadata": {
                                "eventId": str(r),
                                "inferenceTime": f"2026-04-18T{hour:02d}:"
                                f"{r % 60:02d}:00Z",
                            },
                            "eventVersion": "0",
                        }
                    )
                    + "\n"
                )


MQ_ENDPOINT = "bench-endpoint"
MQ_HOURS = 4  # captures in 2026/04/18/00..03; labels collected an hour later
MQ_WINDOW = ("2026-04-18T00:00:00Z", f"2026-04-18T{MQ_HOURS:02d}:00:00Z")


def write_quality_window(folder: Path, records: int, seed: int = 2) -> None:
    """`records` captures of a binary classifier plus as many ground-truth records.

    Captures are built by the server's own capture writer and output encoder
    (one CSV row in, `prediction,p0,p1` out, an inference id per request) in
    `folder/capture/<endpoint>/AllTraffic/yyyy/mm/dd/hh`; each label sits in
    `folder/groundtruth/yyyy/mm/dd/hh` one hour after its inference, keyed by
    the inference id.
    """
    from datetime import UTC, datetime

    from container.contract import codecs
    from container.contract.settings import CaptureSettings
    from container.serving.capture import capture_record

    settings = CaptureSettings(destination=str(folder), endpoint_name=MQ_ENDPOINT)
    rng = np.random.default_rng(seed)
    per_hour = records // MQ_HOURS
    for hour in range(MQ_HOURS):
        capture = folder / "capture" / MQ_ENDPOINT / "AllTraffic"
        capture = capture / f"2026/04/18/{hour:02d}"
        truth = folder / "groundtruth" / f"2026/04/18/{hour + 1:02d}"
        capture.mkdir(parents=True)
        truth.mkdir(parents=True)
        labels = rng.integers(0, 2, per_hour)
        # A model right about 85 % of the time, fairly confident.
        p1 = np.clip(labels * 0.5 + rng.uniform(0, 0.6, per_hour) - 0.05, 0, 1)
        p1 = p1.round(4)
        features = rng.normal(0, 1, (per_hour, 5)).round(3)
        with (
            (capture / "00-00-000-bench.jsonl").open("w") as cap,
            (truth / "labels.jsonl").open("w") as gt,
        ):
            for r in range(per_hour):
                inference_id = f"inf-{hour}-{r}"
                body = ",".join(map(str, features[r])).encode()
                output = codecs.encode(
                    np.array([int(p1[r] >= 0.5)]),
                    codecs.CSV,
                    np.array([[1 - p1[r], p1[r]]]),
                    [0, 1],
                )
                when = datetime(2026, 4, 18, hour, r % 60, r % 59, tzinfo=UTC)
                record = capture_record(
                    settings,
                    body,
                    codecs.CSV,
                    output,
                    codecs.CSV,
                    when,
                    inference_id=inference_id,
                )
                cap.write(json.dumps(record) + "\n")
                label = {
                    "groundTruthData": {"data": str(labels[r]), "encoding": "CSV"},
                    "eventMetadata": {"eventId": inference_id},
                    "eventVersion": "0",
                }
                gt.write(json.dumps(label) + "\n")
    below = "LessThanThreshold"
    (folder / "constraints.json").write_text(
        json.dumps(
            {
                "version": 0.0,
                "binary_classification_constraints": {
                    metric: {"threshold": 0.8, "comparison_operator": below}
                    for metric in ("accuracy", "f1")
                },
            }
        )
    )


def quality_environment(folder: Path, output: Path) -> dict[str, str]:
    """The Environment of a scheduled ModelQualityMonitor run over the window."""
    return {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}
        ),
        "dataset_source": str(folder / "capture"),
        "ground_truth_source": str(folder / "groundtruth"),
        "output_path": str(output),
        "start_time": MQ_WINDOW[0],
        "end_time": MQ_WINDOW[1],
        "baseline_constraints": str(folder / "constraints.json"),
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": MQ_ENDPOINT,
        "sagemaker_monitoring_schedule_name": "bench-quality",
    }


# --- child measurements ------------------------------------------------------------
def child(task: str, args: list[str]) -> None:
    """Run one measured task in this process and print its seconds."""
    os.environ["SKLEARN_BYOC_OPT_ML"] = args[-1]
    if task == "read_csv":
        import pyarrow.csv as pacsv

        start = time.perf_counter()
        pacsv.read_csv(args[0])
    elif task == "read_csv_pandas":
        import pandas as pd

        start = time.perf_counter()
        pd.read_csv(args[0])
    elif task == "parse_lines":
        start = time.perf_counter()
        for path in sorted(Path(args[0]).rglob("*.jsonl")):
            with path.open() as fh:
                for line in fh:
                    json.loads(line)
    elif task == "baseline":
        from container.monitoring import baseline

        start = time.perf_counter()
        assert baseline.main(["--dataset", args[0], "--output", args[1]]) == 0
    elif task == "monitor":
        from container.monitoring import monitor

        start = time.perf_counter()
        code = monitor.main(
            [
                "--dataset",
                args[0],
                "--output",
                args[1],
                "--baseline-statistics",
                f"{args[2]}/statistics.json",
                "--baseline-constraints",
                f"{args[2]}/constraints.json",
            ]
        )
        assert code == 0
    elif task == "quality_monitor":
        from container.monitoring import monitor

        folder = Path(args[0])
        os.environ.update(quality_environment(folder, Path(args[1])))
        start = time.perf_counter()
        assert monitor.main([]) == 0
        summary = json.loads((Path(args[1]) / "summary.json").read_text())
        assert summary["merge"]["merged_records"] == int(args[2]), summary["merge"]
    else:
        raise SystemExit(f"unknown task {task}")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM starts afresh at exec, unlike ru_maxrss,
    which a child inherits from the (large) benchmark process that forked it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_once(task: str, *args: str) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", task, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{task} failed (exit {proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])


def compare(reference: tuple[str, ...], job: tuple[str, ...], repeat: int) -> dict:
    """Run reference and job alternately `repeat` times.

    The ratio is the median of the per-pair ratios: on a machine shared with
    other work, a pair measured back to back sees the same load.
    """
    pairs = [(measure_once(*reference), measure_once(*job)) for _ in range(repeat)]
    ratios = sorted(j["seconds"] / r["seconds"] for r, j in pairs)
    best_ratio = min(j["seconds"] for _, j in pairs) / min(
        r["seconds"] for r, _ in pairs
    )

    def summary(runs: list[dict]) -> dict[str, float]:
        return {
            "best_seconds": round(min(r["seconds"] for r in runs), 3),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        }

    return {
        "reference": summary([r for r, _ in pairs]),
        "job": summary([j for _, j in pairs]),
        "ratio_median": round(ratios[len(ratios) // 2], 2),
        "ratio_of_best_times": round(best_ratio, 2),
        "ratio_range": [round(ratios[0], 2), round(ratios[-1], 2)],
    }


PARTS = ("baseline", "monitor", "model-quality")


def run(
    rows_list: list[int],
    records_list: list[int],
    quality_list: list[int],
    repeat: int,
    parts: tuple[str, ...] = PARTS,
) -> dict:
    results: dict = {
        "machine": {"cpus": os.cpu_count()},
        "baseline": [],
        "monitor": [],
        "model_quality": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        root = Path(tmp)
        opt_ml = str(root / "opt_ml")
        (root / "opt_ml" / "output").mkdir(parents=True)
        if "monitor" in parts and "baseline" not in parts:
            rows_list = rows_list[:1]  # the monitor's baseline, not measured
        for rows in rows_list if {"baseline", "monitor"} & set(parts) else []:
            data = str(root / f"table-{rows}.csv")
            write_table_csv(Path(data), rows)
            out = str(root / f"base-{rows}")
            if "baseline" not in parts:
                measure_once("baseline", data, out, opt_ml)
                continue
            entry = {
                "rows": rows,
                "columns": 10,
                "csv_mib": round(Path(data).stat().st_size / 2**20, 1),
                "vs_pyarrow_read": compare(
                    ("read_csv", data, opt_ml),
                    ("baseline", data, out, opt_ml),
                    repeat,
                ),
                "vs_pandas_read": compare(
                    ("read_csv_pandas", data, opt_ml),
                    ("baseline", data, out, opt_ml),
                    1,
                ),
            }
            entry["load_average"] = load_average()
            results["baseline"].append(entry)
            print(json.dumps(entry), flush=True)
        base = str(root / f"base-{rows_list[0]}")
        for records in records_list if "monitor" in parts else []:
            capture = root / f"capture-{records}"
            write_capture(capture, records)
            out = str(root / f"mon-{records}")
            entry = {
                "records": records,
                "vs_json_parse": compare(
                    ("parse_lines", str(capture), opt_ml),
                    ("monitor", str(capture), out, base, opt_ml),
                    repeat,
                ),
                "load_average": load_average(),
            }
            results["monitor"].append(entry)
            print(json.dumps(entry), flush=True)
        for records in quality_list if "model-quality" in parts else []:
            folder = root / f"quality-{records}"
            write_quality_window(folder, records)
            out = str(root / f"mq-{records}")
            entry = {
                "records": records,
                "ground_truth_records": records,
                "jsonl_mib": round(
                    sum(f.stat().st_size for f in folder.rglob("*.jsonl")) / 2**20, 1
                ),
                "vs_json_parse": compare(
                    ("parse_lines", str(folder), opt_ml),
                    (
                        "quality_monitor",
                        str(folder),
                        out,
                        str(records // MQ_HOURS * MQ_HOURS),
                        opt_ml,
                    ),
                    repeat,
                ),
                "load_average": load_average(),
            }
            results["model_quality"].append(entry)
            print(json.dumps(entry), flush=True)
    results["load_average_at_end"] = load_average()
    return results


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the machine was."""
    return [round(x, 2) for x in os.getloadavg()]


def print_table(results: dict) -> None:
    rows = []
    for b in results["baseline"]:
        rows.append((f"baseline, {b['rows']:,} rows", b["vs_pyarrow_read"], b))
    for m in results["monitor"]:
        rows.append((f"monitor, {m['records']:,} records", m["vs_json_parse"], m))
    for q in results["model_quality"]:
        label = f"model-quality monitor, {q['records']:,} + {q['records']:,} records"
        rows.append((label, q["vs_json_parse"], q))
    print(
        f"\n{'input':<52} {'ref s':>7} {'job s':>7} {'ratio (range)':>20} "
        f"{'peak MiB':>9} {'load 1/5/15':>17}"
    )
    for label, c, entry in rows:
        span = f"{c['ratio_median']:.2f} ({c['ratio_range'][0]:.2f}-"
        span += f"{c['ratio_range'][1]:.2f})"
        load = "/".join(f"{x:.2f}" for x in entry["load_average"])
        print(
            f"{label:<52} {c['reference']['best_seconds']:>7.3f} "
            f"{c['job']['best_seconds']:>7.3f} {span:>20} "
            f"{c['job']['peak_rss_mib']:>9.1f} {load:>17}"
        )
    print(f"load average at the end: {results['load_average_at_end']}", flush=True)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="measure only these (repeatable)"
    )
    parser.add_argument("--json", default=None, help="write results here as JSON")
    parser.add_argument("--html", default=None, help="write a chart page here")
    args = parser.parse_args()
    rows = [100_000] if args.quick else [100_000, 1_000_000, 3_000_000]
    records = [20_000] if args.quick else [10_000, 100_000, 300_000]
    quality = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    results = run(rows, records, quality, args.repeat, tuple(args.only or PARTS))
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.html:
        Path(args.html).write_text(html_report(results))


def html_report(results: dict) -> str:
    """A self-contained page: ratio and peak-RSS bars per input size."""

    def bars(title: str, items: list[tuple[str, float]], unit: str, goal=None) -> str:
        if not items:  # a part left out with --only
            return ""
        top = max([v for _, v in items] + [goal or 0]) or 1.0
        rows = []
        for i, (label, value) in enumerate(items):
            width = 300 * value / top
            y = 30 + i * 26
            rows.append(
                f"<text x='0' y='{y + 14}' font-size='12'>{label}</text>"
                f"<rect x='130' y='{y}' width='{width:.1f}' height='18' "
                f"fill='#4e79a7'/>"
                f"<text x='{136 + width:.1f}' y='{y + 14}' font-size='12'>"
                f"{value:g}{unit}</text>"
            )
        if goal:
            x = 130 + 300 * goal / top
            rows.append(
                f"<line x1='{x:.1f}' y1='24' x2='{x:.1f}' y2='{34 + 26 * len(items)}' "
                f"stroke='#c0392b' stroke-dasharray='4'/><text x='{x + 3:.1f}' y='20' "
                f"font-size='11' fill='#c0392b'>goal {goal:g}</text>"
            )
        height = 44 + 26 * len(items)
        return (
            f"<h2>{title}</h2><svg xmlns='http://www.w3.org/2000/svg' width='520' "
            f"height='{height}'>{''.join(rows)}</svg>"
        )

    base, mon = results["baseline"], results["monitor"]
    quality = results.get("model_quality", [])
    parts = [
        bars(
            "baseline time ÷ pyarrow read_csv time (median of pairs)",
            [
                (f"{b['rows']:,} rows", b["vs_pyarrow_read"]["ratio_median"])
                for b in base
            ],
            "×",
            3,
        ),
        bars(
            "monitor time ÷ json.loads of every line (median of pairs)",
            [
                (f"{m['records']:,} records", m["vs_json_parse"]["ratio_median"])
                for m in mon
            ],
            "×",
            3,
        ),
        bars(
            "baseline peak RSS",
            [
                (f"{b['rows']:,} rows", b["vs_pyarrow_read"]["job"]["peak_rss_mib"])
                for b in base
            ],
            " MiB",
        ),
        bars(
            "monitor peak RSS",
            [
                (f"{m['records']:,} records", m["vs_json_parse"]["job"]["peak_rss_mib"])
                for m in mon
            ],
            " MiB",
        ),
        bars(
            "model-quality monitor time ÷ json.loads of every capture and "
            "ground-truth line (median of pairs)",
            [
                (f"{q['records']:,} records", q["vs_json_parse"]["ratio_median"])
                for q in quality
            ],
            "×",
            3,
        ),
        bars(
            "model-quality monitor peak RSS",
            [
                (f"{q['records']:,} records", q["vs_json_parse"]["job"]["peak_rss_mib"])
                for q in quality
            ],
            " MiB",
        ),
    ]
    load = results.get("load_average_at_end")
    if load:
        parts.append(f"<p>load average (1/5/15 min) at the end: {load}</p>")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>monitoring "
        "benchmark</title></head><body style='font-family:sans-serif'>"
        "<h1>Monitoring benchmark</h1>" + "".join(parts) + "</body></html>"
    )


if __name__ == "__main__":
    main()
