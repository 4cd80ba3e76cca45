"""The headless command line: the same Engine as the studio window, no Qt.

Exit codes: 0 the job succeeded, 1 the job failed, 2 bad usage or bad input (one sentence on
stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

from adapters.registry import default_registry
from app import cli_models, cli_tools
from app.cli_checks import (
    check_out_folder,
    check_params,
    parse_params,
    stop_on_sigterm,
    wait_or_cancel,
)
from app.server.config import add_command as add_serve_command
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import FEATURES, JobResult, JobState
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.runtime.lock import EngineLock
from engine.storage.jobstore import JobStore
from engine.storage.paths import DataDir

log = logging.getLogger("app.cli")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INPUT_ERRORS = {ErrorCode.INVALID_INPUT, ErrorCode.INVALID_PARAMS, ErrorCode.UNKNOWN_ADAPTER}
# a data folder Meshsmith cannot use is a setup mistake, told before any job: exit 2 as well
SETUP_ERRORS = {ErrorCode.ENGINE_LOCKED, ErrorCode.STORAGE, ErrorCode.HISTORY_UNAVAILABLE}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as DESIGN.md says
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meshsmith", description="Meshsmith: 3D generative AI studio.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="run one job to the end")
    run.add_argument("feature", choices=FEATURES, metavar="FEATURE")
    run.add_argument("inputs", nargs="*", metavar="INPUT",
                     help="a file, base64:..., data:...;base64,... or job:<id> (none for "
                          "text features: --param prompt=...)")
    run.add_argument("--adapter")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--out", help="also copy the outputs into this folder")
    run.add_argument("--json", action="store_true", help="print the job result as JSON")
    run.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                     help="stop the job after this long (default: the adapter's own limit, "
                          "longer for large inputs)")
    resume = sub.add_parser("resume", help="run an interrupted job again, to the end")
    resume.add_argument("job_id", metavar="JOB_ID")
    resume.add_argument("--out", help="also copy the outputs into this folder")
    resume.add_argument("--json", action="store_true", help="print the job result as JSON")
    adapters = sub.add_parser("adapters", help="list adapters")
    adapters.add_argument("--json", action="store_true")
    history = sub.add_parser("history", help="list past jobs")
    history.add_argument("--json", action="store_true")
    history.add_argument("--limit", type=int, default=100)
    cli_models.add_commands(sub, _Parser)  # list, verify, download, import, allow
    cli_tools.add_commands(sub)  # export, pipeline, recipes
    add_serve_command(sub)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("run", "resume"):
            stop_on_sigterm()
            return run_job(args) if args.command == "run" else resume_job(args)
        if args.command == "adapters":
            return list_adapters(args)
        if args.command == "history":
            return list_history(args)
        if args.command == "models":
            return cli_models.run(args)
        if args.command in cli_tools.COMMANDS:
            return cli_tools.run_command(args)
        if args.command == "serve":
            from app.server.runner import serve_command  # FastAPI only when serving

            return serve_command(args, default_registry())
    except MeshsmithError as exc:
        print(f"meshsmith: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.code in INPUT_ERRORS | SETUP_ERRORS else EXIT_FAILED
    except KeyboardInterrupt:
        print("meshsmith: stopped; the job was recorded as interrupted.", file=sys.stderr)
        return 130
    build_parser().print_help(sys.stderr)
    return EXIT_USAGE


def run_job(args: argparse.Namespace) -> int:
    from app.cli_tools import run_in_studio

    # everything is checked before a job is recorded: a mistake is one sentence, exit 2
    params = parse_params(args.param)
    check_out_folder(args.out)
    bar = ProgressBar(sys.stderr)
    # a running studio owns the engine (and the GPUs): hand it the job; else run one here
    result = run_in_studio(args, params, bar) or _run_here(args, params, bar)
    bar.close()
    return report(args, result)


def resume_job(args: argparse.Namespace) -> int:
    check_out_folder(args.out)
    bar = ProgressBar(sys.stderr)
    engine = _start_engine()
    try:
        engine.resume(args.job_id)
        engine.subscribe(bar.on_event)
        result = _wait(engine, args.job_id)
    finally:
        engine.shutdown()
    bar.close()
    return report(args, result)


def report(args: argparse.Namespace, result: JobResult) -> int:
    """Print a finished job as `run` and `resume` do; copy it into --out; the exit code."""
    if args.json:
        print(result.model_dump_json())
    elif result.status == JobState.SUCCEEDED.value:
        print(result.output_file_path)
    for warning in result.warnings:
        print(f"meshsmith: note: {warning}", file=sys.stderr)
    if result.error is not None:
        print(f"meshsmith: {result.error.message}", file=sys.stderr)
        return EXIT_USAGE if result.error.code in INPUT_ERRORS else EXIT_FAILED
    if args.out is not None:
        copy_outputs([o.path for o in result.outputs], Path(args.out))
    return EXIT_OK


def _start_engine() -> Engine:
    """The CLI's own engine: it never resumes another engine's jobs (engine.storage.ownership)."""
    engine = Engine(registry=default_registry()).start()
    if engine.store is not None and engine.store.warning:
        print(f"meshsmith: {engine.store.warning}", file=sys.stderr)
    return engine


def _run_here(args: argparse.Namespace, params: dict[str, Any], bar: ProgressBar) -> JobResult:
    # the studio checks a job handed to it with its own adapters; here, before any staging
    check_params(default_registry(), args.feature, args.adapter, params)
    engine = _start_engine()
    try:
        staged = [engine.stage(source) for source in args.inputs]
        engine.subscribe(bar.on_event)
        job_id = engine.submit(args.feature, staged, adapter=args.adapter, params=params,
                               timeout_s=args.timeout)
        return _wait(engine, job_id)
    finally:
        engine.shutdown()


def _wait(engine: Engine, job_id: str) -> JobResult:
    return wait_or_cancel(engine.result_future(job_id).result,  # one future, waited in slices
                          lambda: engine.cancel(job_id), engine.cancel_grace_s)


def copy_outputs(paths: list[str], folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shutil.copy2(path, folder / Path(path).name)
    except OSError as exc:  # checked before the job ran, so the disk changed meanwhile
        raise MeshsmithError(ErrorCode.STORAGE,
                             f"The job succeeded, but its outputs could not be copied into "
                             f"{folder} ({exc.strerror or exc}).") from None


def list_adapters(args: argparse.Namespace) -> int:
    specs = [spec.describe() for spec in default_registry().specs]
    if args.json:
        print(json.dumps(specs))
    else:
        for spec in specs:
            print(f"{spec['feature']:<24} {spec['id']:<16} {spec['label']}")
    return EXIT_OK


def list_history(args: argparse.Namespace) -> int:
    data = DataDir.default().ensure()
    # Reading needs no engine lock (SQLite WAL allows readers), so it must not repair either.
    store = JobStore(data.db, recover=False)
    try:
        jobs = store.list(limit=args.limit)
        if store.warning:
            print(f"meshsmith: {store.warning}", file=sys.stderr)
    finally:
        store.close()
    if not EngineLock(data.lock).in_use():
        # no engine runs here, so no job is running or waiting: the next engine start
        # records them interrupted (engine.storage.ownership); say so already
        jobs = [job.model_copy(update={"state": JobState.INTERRUPTED})
                if job.state in (JobState.QUEUED, JobState.RUNNING) else job for job in jobs]
    if args.json:
        print(json.dumps([job.model_dump(mode="json") for job in jobs]))
    else:
        for job in jobs:
            print(f"{job.job_id}  {job.state.value:<11} {job.spec.feature:<22} {job.spec.adapter}")
    return EXIT_OK


class ProgressBar:
    """Stage and percentage on stderr: redrawn in place on a terminal, one line per stage else."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last: tuple[str, int] | None = None

    def on_event(self, event: JobEvent) -> None:
        if event.kind == "progress":
            self.draw(event.stage, event.fraction)
        elif event.kind == "waiting" and event.cause:
            self.draw(event.cause, 0.0)

    def draw(self, stage: str, fraction: float) -> None:
        percent = round(fraction * 100)
        if (stage, percent) == self._last or (not self.tty and self._last and self._last[0] == stage):
            return
        self._last = (stage, percent)
        filled = int(self.width * fraction)
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {percent:3d}% {stage}"
        self.stream.write(f"\r{line[:100]:<100}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last is not None:
            self.stream.write("\n")
            self.stream.flush()
