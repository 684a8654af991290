"""`python -m orchestration <step>` (also the `sklearn-byoc` console script).

Every step takes ``--backend local|aws`` and ``--config FILE``; `run` does them
all in order. User mistakes (a bad config key, a step run too early, a job
that failed) end with one line on stderr and a non-zero exit, never a
traceback; ``--debug`` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from container.contract.errors import ByocError

STEPS_HELP = """steps, in lifecycle order:
  prepare    validate raw data, split it, write data/processed + manifest
  train      run a training job; record the run
  register   add the model to the registry (auto-approval rule applied)
  approve    approve (or --reject) a model version
  deploy     serve the latest approved version, with data capture
  predict    send held-out (or --drifted) traffic to the endpoint
  baseline   statistics + constraints from the training features
  monitor    check captured traffic against the baseline; raise alerts
  schedule   run `monitor` over each past window (local schedule)
  status     jobs, endpoints, model versions
  teardown   delete the endpoint and every container
  run        all of the above, as the demo does
  runs       list / compare training runs
  models     list model versions
  alerts     list raised alerts
"""


def _common(suppress: bool = False) -> argparse.ArgumentParser:
    """Options accepted before or after the step name.

    On the step's own parser the defaults are suppressed, so an option given
    before the step is not reset by the step parser's default.
    """
    common = argparse.ArgumentParser(
        add_help=False, argument_default=argparse.SUPPRESS if suppress else None
    )
    common.add_argument(
        "--config", type=Path, help="project config (default: config/penguins.yaml)"
    )
    common.add_argument(
        "--backend",
        choices=("local", "aws"),
        help="where to run (default: the config's `backend`)",
    )
    common.add_argument(
        "--image", help="image tag to use instead of the config's `image`"
    )
    common.add_argument(
        "--state-dir",
        type=Path,
        help="project state folder instead of the config's `state_dir`",
    )
    common.add_argument("--quiet", action="store_true", help="hide job logs")
    common.add_argument(
        "--debug", action="store_true", help="show tracebacks for unexpected errors"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration",
        parents=[_common()],
        description="Take a scikit-learn model through the SageMaker lifecycle, "
        "locally on Docker or on AWS.",
        epilog=STEPS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return steps.add_parser(
            name, parents=[_common(suppress=True)], help=help_, description=help_
        )

    add("prepare", "validate raw data and write train/validation/test splits")
    add("train", "run a training job and record the run")
    add("register", "register the last trained model (auto-approval rule applied)")
    approve = add("approve", "approve or reject a model version")
    approve.add_argument(
        "--version", type=int, help="version (default: last registered)"
    )
    approve.add_argument("--reject", action="store_true", help="reject instead")
    approve.add_argument("--reason", default="", help="why, kept in the registry")
    deploy = add("deploy", "deploy the latest approved version (or --version)")
    deploy.add_argument("--version", type=int)
    predict = add("predict", "send held-out rows to the endpoint, one request each")
    predict.add_argument(
        "--drifted", action="store_true", help="shift the rows as monitoring.drift says"
    )
    predict.add_argument("--limit", type=int, help="send at most this many rows")
    add("baseline", "compute baseline statistics and constraints")
    monitor = add("monitor", "check captured traffic against the baseline")
    monitor.add_argument(
        "--start", help="window start, ISO 8601 UTC (default: end - window)"
    )
    monitor.add_argument("--end", help="window end, ISO 8601 UTC (default: now)")
    schedule = add("schedule", "run `monitor` for each due window (local schedule)")
    schedule.add_argument(
        "--once", action="store_true", help="run due windows and exit"
    )
    schedule.add_argument(
        "--max-runs",
        type=int,
        default=None,
        help="stop after this many monitoring runs",
    )
    status = add("status", "show jobs, endpoints and model versions")
    status.add_argument("--json", action="store_true")
    add("teardown", "delete the endpoint and remove every container")
    run = add("run", "the whole lifecycle, as the demo runs it")
    run.add_argument("--keep", action="store_true", help="keep the endpoint running")
    runs = add("runs", "list or compare training runs")
    runs.add_argument("action", choices=("list", "compare"))
    runs.add_argument("run_ids", nargs="*", help="runs to compare (default: last two)")
    runs.add_argument("--html", type=Path, help="also write the comparison as HTML")
    add("models", "list model versions")
    add("alerts", "list raised alerts")
    return parser


def _say(text: str) -> None:
    print(text, flush=True)


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda line: print(f"    │ {line}", flush=True)


def _open(args: argparse.Namespace):
    from orchestration.config import load_config
    from orchestration.lifecycle import open_project

    config = load_config(args.config, backend=args.backend)
    changes: dict[str, Any] = {}
    if args.image:
        changes["image"] = args.image
    if args.state_dir:
        changes["state_dir"] = args.state_dir.resolve()
    if changes:
        config = dataclasses.replace(config, **changes)
    return open_project(config, say=_say)


def dispatch(args: argparse.Namespace) -> int:
    from orchestration import lifecycle, schedule
    from orchestration.reports import runs_html

    project = _open(args)
    progress = _progress(args.quiet)
    step = args.step
    if step == "prepare":
        lifecycle.prepare(project)
    elif step == "train":
        lifecycle.train(project, progress)
    elif step == "register":
        lifecycle.register(project)
    elif step == "approve":
        lifecycle.approve(project, args.version, args.reject, args.reason)
    elif step == "deploy":
        lifecycle.deploy(project, args.version)
    elif step == "predict":
        result, _ = lifecycle.predict(project, drifted=args.drifted, limit=args.limit)
        return 1 if result.errors else 0
    elif step == "baseline":
        lifecycle.baseline(project, progress)
    elif step == "monitor":
        lifecycle.monitor(project, args.start, args.end, progress)
    elif step == "schedule":
        schedule.run_schedule(
            project, once=args.once, max_runs=args.max_runs, progress=progress
        )
    elif step == "status":
        data = lifecycle.status(project)
        print(
            json.dumps(data, indent=2, default=str) if args.json else _status_text(data)
        )
    elif step == "teardown":
        lifecycle.teardown(project)
    elif step == "run":
        lifecycle.run(project, keep=args.keep)
    elif step == "runs":
        _runs(project, args, runs_html)
    elif step == "models":
        for v in project.registry.list(project.config.registry.model_group):
            metric = _headline(v.metrics)
            print(
                f"v{v.version}  {v.approval:<22} {metric}  {v.created_at}  "
                f"run={v.lineage.get('run_id')}"
            )
    elif step == "alerts":
        for alert in project.alerts.history():
            print(f"{alert['raised_at']}  [{alert['rule']}] {alert['summary']}")
    return 0


def _headline(metrics: dict[str, float]) -> str:
    for key in ("validation:accuracy", "test:accuracy", "validation:r2"):
        if key in metrics:
            return f"{key}={metrics[key]:.4f}"
    return ""


def _runs(project, args: argparse.Namespace, runs_html) -> None:
    from orchestration.tracking import compare

    runs = project.tracker.list(project.config.project)
    if args.action == "list":
        for r in runs:
            print(
                f"{r.run_id}  {r.status:<9} {r.duration_seconds or 0:7.1f}s  "
                f"{_headline(r.metrics)}  {r.code_revision or ''}"
            )
        if not runs:
            print("no runs yet: `python -m orchestration train`")
        return
    chosen = (
        [project.tracker.get(i) for i in args.run_ids] if args.run_ids else runs[-2:]
    )
    if len(chosen) < 2:
        raise ByocError("runs compare needs two runs: train twice, or name two run ids")
    table = compare(chosen)
    print(json.dumps(table, indent=2))
    if args.html:
        args.html.write_text(runs_html(chosen, table))
        print(f"comparison written to {args.html}")


def _status_text(data: dict[str, Any]) -> str:
    backend = data["backend"]
    lines = [f"project {data['project']} on {backend['backend']}"]
    for ep in backend.get("endpoints", []):
        # The local backend says endpoint_name, the AWS one name.
        name = ep.get("endpoint_name") or ep.get("name")
        lines.append(f"  endpoint {name}: {ep['status']} {ep.get('url') or ''}")
    for job in backend.get("jobs", [])[-10:]:
        lines.append(f"  job {job['job_name']}: {job['status']}")
    for kind in ("training_jobs", "processing_jobs"):  # AWS: newest first
        for job in backend.get(kind, [])[:10]:
            lines.append(f"  job {job['name']}: {job['status']}")
    for schedule in backend.get("monitoring_schedules", []):
        lines.append(
            f"  schedule {schedule['name']}: {schedule['status']}; "
            + _execution_text(schedule.get("last_execution"))
        )
    for v in data["model_versions"]:
        lines.append(
            f"  model v{v['version']}: {v['approval']} {_headline(v['metrics'])}"
        )
    lines.append(f"  runs recorded: {data['runs']}")
    return "\n".join(lines)


def _execution_text(execution: dict[str, Any] | None) -> str:
    if not execution:
        return "no execution yet"
    if "error" in execution:
        return f"last execution unknown: {execution['error']}"
    text = f"last execution {execution['status']} ({execution['scheduled_time']})"
    reason = execution.get("failure_reason")
    return text + (f": {reason}" if reason else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except ByocError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "error: interrupted; `python -m orchestration teardown` removes what is "
            "still running",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for "
            f"the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
