"""`python -m orchestration <step>` (also the `sklearn-byoc` console script).

Every step takes ``--backend local|aws`` and ``--config FILE``; `run` does them
all in order. Each step is declared once, in `STEPS`: its name, its help, its
own options and what it runs; the parser and the help list are built from
it. User mistakes (a bad config key, a step run too early, a job that failed)
end with one line on stderr and a non-zero exit, never a traceback;
``--debug`` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container.contract.errors import ByocError

if TYPE_CHECKING:
    from orchestration.lifecycle import Project

Progress = Callable[[str], None] | None
# A step's work: (project, parsed arguments, progress or None). An int it
# returns is the exit code; anything else (the step's own result) means 0.
Runner = Callable[["Project", argparse.Namespace, Progress], object]


@dataclass(frozen=True)
class Option:
    """One of a step's own arguments, as `add_argument` takes it."""

    flags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    run: Runner
    options: tuple[Option, ...] = ()
    # False: the step makes a project rather than using one (`init`); it is
    # given None for the project.
    opens_project: bool = True


def _lifecycle() -> Any:
    # Imported when a step runs, so `--help` does not load pandas and the backends.
    from orchestration import lifecycle

    return lifecycle


def _transform(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import batch

    batch.transform(p, args.version, args.input, progress)


def _tune() -> Any:
    from orchestration import tune

    return tune


def _ingest() -> Any:
    from orchestration import ingest

    return ingest


def _pipeline(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import pipelines

    local = args.local or p.backend.name == "local"
    if args.action == "definition":
        pipelines.write_definition(p, args.out, local=local)
    elif args.action == "run":
        if not args.local:
            raise ByocError(
                "pipeline run executes locally: add --local (on aws: `pipeline upsert`, then `pipeline start`)"
            )
        pipelines.run_locally(p, args.s3_endpoint, progress)
    elif args.action == "upsert":
        pipelines.upsert(p)
    elif args.action == "start":
        pipelines.start(p, _parameters(args.parameter))
    else:
        pipelines.status(p)


def _parameters(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ByocError(
                f"--parameter {pair!r} must be NAME=VALUE, e.g. ApprovalThreshold=0.95"
            )
        out[name] = value
    return out


def _schedule(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import schedule

    schedule.run_schedule(p, once=args.once, max_runs=args.max_runs, progress=progress)


def _predict(p: Project, args: argparse.Namespace, progress: Progress) -> int:
    result, _ = _lifecycle().predict(
        p, drifted=args.drifted, limit=args.limit, variant=args.variant
    )
    return 1 if result.errors else 0


def _deploy(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    if args.variant is None:
        if args.weight is not None or args.shadow:
            raise ByocError("--weight and --shadow go with --variant NAME")
        _lifecycle().deploy(p, args.version)
        return
    from orchestration import rollout

    weight = 1.0 if args.weight is None else args.weight
    rollout.deploy_variant(p, args.variant, args.version, weight, args.shadow)


def _promote(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import rollout

    rollout.promote(p, args.variant)


def _status(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import rollout

    data = _lifecycle().status(p)
    if p.state.get("endpoint"):
        try:
            data["variants"] = rollout.status(p)
        except ByocError as exc:  # the endpoint is gone: say so, show the rest
            data["variants_error"] = exc.message
    print(json.dumps(data, indent=2, default=str) if args.json else _status_text(data))


def _models(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    for v in p.registry.list(p.config.registry.model_group):
        statistics = (
            (v.model_metrics.get("ModelQuality") or {}).get("Statistics") or {}
        ).get("S3Uri")
        print(
            f"v{v.version}  {v.approval:<22} {_headline(v.metrics)}  {v.created_at}  run={v.lineage.get('run_id')}"
            + (f"  model-quality={statistics}" if statistics else "")
        )


def _lineage(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration import lineage

    if args.endpoint is not None and args.version is not None:
        raise ByocError("lineage traces --endpoint NAME or --version N, not both")
    if args.version is not None:
        found = lineage.of_version(p, args.version)
        tree = lineage.version_tree(found)
    else:
        found = lineage.of_endpoint(p, args.endpoint or p.config.endpoint.name)
        tree = lineage.endpoint_tree(found)
    print(json.dumps(found, indent=2) if args.json else "\n".join(lineage.render(tree)))


def _alerts(p: Project, args: argparse.Namespace, progress: Progress) -> None:
    for alert in p.alerts.history():
        print(f"{alert['raised_at']}  [{alert['rule']}] {alert['summary']}")


def _init(p: None, args: argparse.Namespace, progress: Progress) -> None:
    from orchestration.scaffold import init_project, summary_lines

    result = init_project(args.data, args.target, args.name, args.out, args.force)
    for line in summary_lines(result):
        print(line)


VERSION = "version (default: the latest approved)"
STEPS: tuple[Step, ...] = (
    Step(
        "init",
        "write a project config and raw schema guessed from a CSV file",
        _init,
        (
            option("--data", type=Path, required=True, help="the raw CSV file"),
            option("--target", required=True, help="the column to predict"),
            option("--name", help="project name (default: from the file name)"),
            option(
                "--out",
                type=Path,
                default=Path("config"),
                help="folder for <name>.yaml and <name>-raw.schema.yaml (default: config)",
            ),
            option("--force", action="store_true", help="overwrite existing files"),
        ),
        opens_project=False,
    ),
    Step(
        "ingest",
        "upload the raw files to a versioned prefix (what the pipeline prepares)",
        lambda p, args, progress: _ingest().ingest(p),
    ),
    Step(
        "prepare",
        "validate raw data, split it, write data/processed + manifest",
        lambda p, args, progress: _lifecycle().prepare(p, args.job, progress),
        (
            option(
                "--job",
                action="store_true",
                help="run it in the image as a processing job over the ingested raw data "
                "(the pipeline's first step)",
            ),
        ),
    ),
    Step(
        "train",
        "run a training job and record the run",
        lambda p, args, progress: _lifecycle().train(p, progress),
    ),
    Step(
        "tune",
        "run a hyperparameter tuning job (config `tuning:`); its best trial "
        "is what `register` takes",
        lambda p, args, progress: _tune().tune(p, progress),
    ),
    Step(
        "register",
        "register the last trained model (auto-approval rule applied)",
        lambda p, args, progress: _lifecycle().register(p),
    ),
    Step(
        "approve",
        "approve (or --reject) a model version",
        lambda p, args, progress: _lifecycle().approve(
            p, args.version, args.reject, args.reason
        ),
        (
            option("--version", type=int, help="version (default: last registered)"),
            option("--reject", action="store_true", help="reject instead"),
            option("--reason", default="", help="why, kept in the registry"),
        ),
    ),
    Step(
        "deploy",
        "serve the latest approved version (or --version), with data capture; "
        "--variant adds it beside the live one (A/B, or --shadow)",
        _deploy,
        (
            option("--version", type=int, help=VERSION),
            option(
                "--variant",
                help="add the version as this production variant of the endpoint",
            ),
            option(
                "--weight",
                type=float,
                help="the variant's traffic weight, relative to the others (default 1)",
            ),
            option(
                "--shadow",
                action="store_true",
                help="a shadow variant: a copy of live traffic, answering no client",
            ),
        ),
    ),
    Step(
        "promote",
        "give a variant all the endpoint's traffic and retire the others",
        _promote,
        (option("--variant", required=True, help="the variant that wins"),),
    ),
    Step(
        "predict",
        "send held-out (or --drifted) rows to the endpoint, one request each",
        _predict,
        (
            option(
                "--drifted",
                action="store_true",
                help="shift the rows as monitoring.drift says",
            ),
            option("--limit", type=int, help="send at most this many rows"),
            option("--variant", help="send every request to this production variant"),
        ),
    ),
    Step(
        "transform",
        "score a file (default: the held-out split) with a batch transform job",
        _transform,
        (
            option("--version", type=int, help=VERSION),
            option(
                "--input",
                type=Path,
                help="a headerless CSV / JSON Lines file, or a folder of them",
            ),
        ),
    ),
    Step(
        "ground-truth",
        "labels for captured inferences (--labels FILE: inference_id,label)",
        lambda p, args, progress: _lifecycle().ground_truth(p, args.labels),
        (
            option(
                "--labels",
                type=Path,
                required=True,
                help="CSV with an `inference_id,label` header, or JSON Lines "
                '{"inference_id": ..., "label": ...}; `predict` writes one '
                "for the traffic it sent",
            ),
        ),
    ),
    Step(
        "baseline",
        "statistics + constraints from the training features, and the "
        "model's quality on the validation split",
        lambda p, args, progress: _lifecycle().baseline(p, progress),
    ),
    Step(
        "monitor",
        "check captured traffic (and its labels) against the baseline; raise alerts",
        lambda p, args, progress: _lifecycle().monitor(
            p,
            args.start,
            args.end,
            progress,
            transform_job=args.transform_job,
            variant=args.variant,
        ),
        (
            option(
                "--start", help="window start, ISO 8601 UTC (default: end - window)"
            ),
            option("--end", help="window end, ISO 8601 UTC (default: now)"),
            option(
                "--transform-job",
                help="monitor this batch transform job's capture (over its run) "
                "instead of the endpoint's",
            ),
            option(
                "--variant",
                help="monitor only this variant's capture (its version's quality)",
            ),
        ),
    ),
    Step(
        "schedule",
        "`monitor` each window: a loop here, a SageMaker schedule on aws",
        _schedule,
        (
            option("--once", action="store_true", help="run due windows and exit"),
            option(
                "--max-runs",
                type=int,
                default=None,
                help="stop after this many monitoring runs",
            ),
        ),
    ),
    Step(
        "status",
        "jobs, endpoints and model versions",
        _status,
        (option("--json", action="store_true"),),
    ),
    Step(
        "teardown",
        "delete the endpoint and remove every container",
        lambda p, args, progress: _lifecycle().teardown(p),
    ),
    Step(
        "run",
        "all of the above, as the demo does",
        lambda p, args, progress: _lifecycle().run(p, keep=args.keep),
        (option("--keep", action="store_true", help="keep the endpoint running"),),
    ),
    Step(
        "runs",
        "list or compare training runs",
        lambda p, args, progress: _runs(p, args),
        (
            option("action", choices=("list", "compare")),
            option("run_ids", nargs="*", help="runs to compare (default: last two)"),
            option("--html", type=Path, help="also write the comparison as HTML"),
        ),
    ),
    Step(
        "pipeline",
        "the lifecycle as a SageMaker Pipeline: definition, run --local, upsert, start, status",
        _pipeline,
        (
            option(
                "action", choices=("definition", "run", "upsert", "start", "status")
            ),
            option(
                "--local",
                action="store_true",
                help="run: execute on this machine with the SDK's LocalPipelineSession",
            ),
            option("--out", type=Path, help="definition: write the JSON to FILE"),
            option(
                "--s3-endpoint",
                help="run --local: an S3-compatible endpoint instead of the built-in emulator",
            ),
            option(
                "--parameter",
                action="append",
                default=[],
                metavar="NAME=VALUE",
                help="start: a pipeline parameter, e.g. ApprovalThreshold=0.95 (repeatable)",
            ),
        ),
    ),
    Step("models", "list model versions", _models),
    Step(
        "lineage",
        "where a model came from: endpoint → version → run → image, code, data",
        _lineage,
        (
            option("--endpoint", help="trace this endpoint (default: the config's)"),
            option("--version", type=int, help="trace this model version instead"),
            option("--json", action="store_true", help="the same as JSON"),
        ),
    ),
    Step("alerts", "list raised alerts", _alerts),
)
STEP_BY_NAME = {step.name: step for step in STEPS}
STEPS_HELP = "steps, in lifecycle order:\n" + "".join(
    f"  {step.name:<12} {step.help}\n" for step in STEPS
)


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
    for step in STEPS:
        sub = steps.add_parser(
            step.name,
            parents=[_common(suppress=True)],
            help=step.help,
            description=step.help,
        )
        for opt in step.options:
            sub.add_argument(*opt.flags, **opt.settings)
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
    step = STEP_BY_NAME[args.step]
    project = _open(args) if step.opens_project else None
    done = step.run(project, args, _progress(args.quiet))  # type: ignore[arg-type]
    return done if isinstance(done, int) and not isinstance(done, bool) else 0


def _headline(metrics: dict[str, float]) -> str:
    for key in ("validation:accuracy", "test:accuracy", "validation:r2"):
        if key in metrics:
            return f"{key}={metrics[key]:.4f}"
    return ""


def _runs(project: Project, args: argparse.Namespace) -> None:
    from orchestration.reports import runs_html
    from orchestration.tracking import compare

    runs = project.tracker.list(project.config.project)
    if args.action == "list":
        for r in runs:
            print(
                f"{r.run_id}  {r.status:<9} {r.duration_seconds or 0:7.1f}s  "
                f"{_headline(r.metrics)}  {r.code_revision or ''}"
                + (f"  mlflow={r.mlflow_run_id}" if r.mlflow_run_id else "")
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
    for v in data.get("variants", []):
        traffic = v.get("traffic") or {}
        role = "shadow" if v["shadow"] else f"weight {v['weight']:g}"
        lines.append(
            f"    variant {v['variant_name']} (version {v.get('version')}, {role}): "
            f"{v['status']}; {traffic.get('requests', 0)} requests, error rate "
            f"{traffic.get('error_rate', 0):.3f}, p50 {traffic.get('latency_p50_ms')} ms, "
            f"p99 {traffic.get('latency_p99_ms')} ms"
            + _variant_quality(v.get("monitor"))
        )
    for job in backend.get("jobs", [])[-10:]:
        best = job.get("best_job_name")
        lines.append(
            f"  job {job['job_name']}: {job['status']}"
            + (f" (tuning job, best {best})" if best else "")
        )
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


def _variant_quality(monitor: dict[str, Any] | None) -> str:
    if not monitor:
        return ""
    metrics = monitor.get("metrics") or {}
    shown = ", ".join(
        f"{k}={metrics[k]:.3f}"
        for k in ("accuracy", "weighted_f1", "rmse")
        if k in metrics
    )
    return (
        f"; last monitor: {monitor.get('violations')} violation(s), model quality "
        f"{monitor.get('quality_status')}" + (f" ({shown})" if shown else "")
    )


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
    except BrokenPipeError:
        # The reader went away (`runs compare | head`): as Unix tools do, stop
        # quietly; stdout is pointed at /dev/null so the exit flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the shell's code for it
    except KeyboardInterrupt:
        print(
            "error: interrupted; `python -m orchestration teardown` removes what is still running",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
