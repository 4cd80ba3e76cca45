"""Command-line subcommands beyond ``run``: ``export``, ``pipeline`` and ``recipes``, and
``run``/``pipeline`` handing their work to a running studio (engine.runtime.instance) so that one
engine owns the GPUs. Same exit codes as app.cli: 0 done, 1 failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adapters.registry import default_registry
from app.cli_checks import wait_or_cancel
from engine.errors import ErrorCode, MeshsmithError
from engine.export.exporter import FORMATS, ExportOptions, export_job
from engine.jobs import JobResult
from engine.pipelines.recipes import RecipeBook
from engine.pipelines.runner import PipelineEvent, PipelineResult, PipelineRunner
from engine.runtime.engine import Engine
from engine.runtime.instance_client import InstanceClient, absolute_sources
from engine.storage.jobstore import JobStore
from engine.storage.paths import DataDir

COMMANDS = ("export", "pipeline", "recipes")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub: Any) -> None:
    """Add this module's subcommands to app.cli's parser."""
    export = sub.add_parser("export", help="export a job's result to another format")
    export.add_argument("job_id", metavar="JOB_ID")
    export.add_argument("format", choices=FORMATS, metavar="FORMAT",
                        help=f"one of {', '.join(FORMATS)}")
    export.add_argument("--out", type=Path, default=Path("."), help="folder (default: here)")
    export.add_argument("--scale", type=float, default=1.0, help="multiply sizes by S")
    export.add_argument("--up", choices=("y", "z"), default="y", help="the up axis (default y)")
    export.add_argument("--apply-transforms", action="store_true",
                        help="bake node transforms into the vertices")
    export.add_argument("--json", action="store_true", help="print the export report as JSON")
    pipeline = sub.add_parser("pipeline", help="run a recipe of several steps on one input")
    pipeline.add_argument("recipe", metavar="RECIPE", help="a recipe id, name or .json file")
    pipeline.add_argument("input", metavar="INPUT")
    pipeline.add_argument("--out", type=Path, help="also copy the final outputs here")
    pipeline.add_argument("--json", action="store_true", help="print the pipeline result")
    recipes = sub.add_parser("recipes", help="list the pipeline recipes")
    recipes.add_argument("--json", action="store_true")


def run_command(args: argparse.Namespace) -> int:
    if args.command == "export":
        return export_command(args)
    if args.command == "pipeline":
        return pipeline_command(args)
    return recipes_command(args)


# ---- export -----------------------------------------------------------------------------------
def export_command(args: argparse.Namespace) -> int:
    if not 0 < args.scale <= 1e6:
        raise MeshsmithError(ErrorCode.INVALID_PARAMS, "--scale must be above 0 and at most "
                             "1000000.")
    options = ExportOptions(format=args.format, scale=args.scale, up=args.up,
                            apply_transforms=args.apply_transforms)
    # reading the history needs no engine: exporting works while the studio runs
    store = JobStore(DataDir.default().ensure().db, recover=False)
    try:
        result = export_job(store, args.job_id, args.out.expanduser().resolve(), options)
    finally:
        store.close()
    if args.json:
        print(result.model_dump_json())
    else:
        for note in result.notes:
            print(f"meshsmith: {note}", file=sys.stderr)
        print(result.path)
    return EXIT_OK


# ---- recipes and pipelines ---------------------------------------------------------------------
def recipes_command(args: argparse.Namespace) -> int:
    book = RecipeBook(DataDir.default().ensure())
    recipes = book.all()
    if args.json:
        print(json.dumps([{"id": rid, **recipe.model_dump(mode="json")}
                          for rid, recipe in recipes]))
    else:
        for rid, recipe in recipes:
            steps = " → ".join(step.feature for step in recipe.steps)
            print(f"{rid:<24} {recipe.name}: {steps}")
    for problem in book.problems:
        print(f"meshsmith: {problem}", file=sys.stderr)
    return EXIT_OK


def pipeline_command(args: argparse.Namespace) -> int:
    from app.cli import ProgressBar, copy_outputs  # app.cli imports this module first

    bar = ProgressBar(sys.stderr)
    client = InstanceClient.connect(DataDir.default())
    if client is not None:
        result = _pipeline_in_studio(client, args, bar)
    else:
        result = _pipeline_here(args, bar)
    bar.close()
    if args.out is not None and result.status == "succeeded":
        copy_outputs([o.path for o in result.steps[-1].outputs], args.out)
    if args.json:
        print(result.model_dump_json())
    elif result.output_file_path:
        print(result.output_file_path)
    if result.error is not None:
        print(f"meshsmith: {result.error.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _pipeline_here(args: argparse.Namespace, bar: Any) -> PipelineResult:
    engine = Engine(registry=default_registry()).start()
    runner = PipelineRunner(engine)
    steps: dict[str, str] = {}

    def on_step(event: PipelineEvent) -> None:
        if event.kind == "step":
            steps[event.job_id] = f"step {event.step + 1}"

    runner.subscribe(on_step)
    engine.subscribe(lambda event: bar.on_event(event) if event.job_id in steps else None)
    try:
        pipeline_id = runner.start(args.recipe, args.input)
        return wait_or_cancel(lambda timeout: runner.wait(pipeline_id, timeout),
                              lambda: runner.cancel(pipeline_id), engine.cancel_grace_s)
    finally:
        runner.close()
        engine.shutdown()


def _pipeline_in_studio(client: InstanceClient, args: argparse.Namespace,
                        bar: Any) -> PipelineResult:
    request = {"op": "pipeline", "recipe": _recipe_key(args.recipe),
               "input": absolute_sources([args.input])[0]}
    with client:
        event = _stream(client, request, bar, "pipeline_result")
    return PipelineResult.model_validate(event["result"])


def _recipe_key(key: str) -> str:
    path = Path(key)  # a recipe file is read by the studio: give it an absolute path
    return str(path.resolve()) if path.suffix == ".json" and path.is_file() else key


# ---- run, in the studio --------------------------------------------------------------------------
def run_in_studio(args: argparse.Namespace, params: dict[str, Any], bar: Any) -> JobResult | None:
    """Submit ``run`` to the running studio and follow it; None when no studio runs."""
    client = InstanceClient.connect(DataDir.default())
    if client is None:
        return None
    request = {"op": "run", "feature": args.feature, "inputs": absolute_sources(args.inputs),
               "adapter": args.adapter, "params": params,
               "timeout_s": getattr(args, "timeout", None)}
    with client:
        event = _stream(client, request, bar, "result")
    return JobResult.model_validate(event["result"])


def _stream(client: InstanceClient, request: dict[str, Any], bar: Any,
            final: str) -> dict[str, Any]:
    """Follow the studio's events, drawing progress; Ctrl+C asks the studio to cancel and
    waits for the (cancelled) outcome."""
    events = client.request(request)
    while True:
        try:
            for event in events:
                kind = event.get("event")
                if kind == "progress":
                    bar.draw(event.get("stage", ""), float(event.get("fraction", 0.0)))
                elif kind == "waiting" and event.get("cause"):
                    bar.draw(event["cause"], 0.0)
                elif kind == final:
                    return event
            raise MeshsmithError(ErrorCode.INTERRUPTED, "The studio closed before the work "
                                 "was done.")
        except KeyboardInterrupt:
            client.cancel()  # then keep reading: the studio answers with the cancelled result
