"""Composition root of the studio: QApplication on a qasync loop, the Engine on its own thread,
the EngineBridge, view models and views.

``python main.py [FILE...] [--open FILE [--run FEATURE[:ADAPTER]]...] [--mode MODE]
[--screenshot OUT.png [--wait S]]``; when a studio already runs on the same data directory, the files are handed to
it and this launch exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from adapters.registry import default_registry
from app.theme import APP_NAME, apply_theme
from app.viewmodels.display_modes import DisplayMode
from engine.errors import ErrorCode, MeshsmithError
from engine.runtime.engine import Engine

log = logging.getLogger(__name__)
SCREENSHOT_TIMEOUT_MS = 120_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="meshsmith", description="Open the Meshsmith studio.")
    parser.add_argument("--open", type=Path, metavar="FILE", help="show FILE in the viewport")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png",
                        help="save a screenshot of the window once FILE is drawn, then exit")
    parser.add_argument("--run", action="append", default=[], metavar="FEATURE[:ADAPTER]",
                        help="run a job on the --open file once it is read, as the Create "
                             "panel's Run would (repeat for several)")
    parser.add_argument("--mode", choices=[m.value for m in DisplayMode],
                        help="the display mode to show FILE in (say, wireframe)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="S",
                        help="with --screenshot: wait S more seconds (say, for jobs to run)")
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="files to open (handed to the studio already running, if any)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from app.single_instance import STARTING_STUDIO_WAIT_S, hand_to_running_studio

    args = parse_args(argv)
    handed = [p for p in (args.open, *args.files) if p is not None]
    # one studio per machine: hand the files over before building any window
    if args.screenshot is None and hand_to_running_studio(handed):
        return 0
    app = QApplication.instance() or QApplication([sys.argv[0]])
    apply_theme(app)
    try:
        engine = Engine(registry=default_registry(), resume_interrupted=True).start()
    except MeshsmithError as exc:
        if (exc.code is ErrorCode.ENGINE_LOCKED and args.screenshot is None
                and hand_to_running_studio(handed, wait_s=STARTING_STUDIO_WAIT_S)):
            return 0  # another studio was starting up and now has the files
        return _refuse(exc.message, headless=args.screenshot is not None)
    try:
        return _run(app, engine, args)
    finally:
        engine.shutdown()


def _run(app: QApplication, engine: Engine, args: argparse.Namespace) -> int:
    import qasync

    from app import async_loop
    from app.bridge import EngineBridge
    from app.excepthook import install_excepthook
    from app.single_instance import serve_studio
    from app.stop_signals import close_on_stop_signals
    from app.views.main_window import MainWindow

    # the loop first: the window's async slots (staging, models) make tasks on it
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    bridge = EngineBridge(engine)
    window = MainWindow(bridge)
    handler = install_excepthook(window)
    # before serving: once later launches can submit, SIGTERM/SIGINT take the close path
    stop_signals = close_on_stop_signals(app, window)
    server = serve_studio(window, engine, bridge.pipelines) if args.screenshot is None else None
    exit_code = [0]
    if args.screenshot is not None:
        _arrange_screenshot(app, window, args, exit_code)
    window.show()
    if args.mode is not None:
        window.viewport_vm.set_mode(args.mode)
    if args.open is not None:
        if args.run:
            _run_when_staged(window, args.run)
        window.open_path(str(args.open))
    if args.files:
        window.open_paths([str(p) for p in args.files])
    loop.set_exception_handler(handler.handle_loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
            # flows still awaiting jobs end here; their jobs stay the engine's (resumed later)
            async_loop.cancel_left(loop, app, async_loop.CLOSING)
    finally:
        stop_signals.uninstall()
    if server is not None:
        server.close()  # later launches start their own studio from here on
    bridge.pipelines.close()
    window.release()
    return exit_code[0]


def _arrange_screenshot(app: QApplication, window: object, args: argparse.Namespace,
                        exit_code: list[int]) -> None:
    def shoot() -> None:
        path = args.screenshot.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(path)):
            print(f"meshsmith: could not write {path}.", file=sys.stderr)
            exit_code[0] = 1
        app.quit()

    def fail(message: str) -> None:
        print(f"meshsmith: {message}", file=sys.stderr)
        exit_code[0] = 2
        app.quit()

    def give_up() -> None:
        fail("the file was not drawn in time, so no screenshot was taken.")

    if args.open is None:
        QTimer.singleShot(1500, shoot)  # the empty studio, once laid out
        return
    def shoot_when_settled() -> None:
        # The input panel reads the same file in parallel; the picture should show both done.
        if window.create_vm.staging:
            QTimer.singleShot(100, shoot_when_settled)
        else:  # let the window paint the fresh frame first (and jobs run, if asked)
            QTimer.singleShot(300 + int(1000 * args.wait), shoot)

    window.scene_shown.connect(shoot_when_settled)
    window.load_failed.connect(fail)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, give_up)


def _run_when_staged(window: object, runs: list[str]) -> None:
    """Submit ``FEATURE[:ADAPTER]`` jobs on the opened input once the Create panel has it."""
    vm = window.create_vm

    def submit(staged: object) -> None:
        if staged is None:
            return
        vm.input_changed.disconnect(submit)
        for run in runs:
            feature, _, adapter = run.partition(":")
            if feature not in vm.features():
                print(f"meshsmith: there is no feature {feature!r}.", file=sys.stderr)
                continue
            vm.set_feature(feature)
            if adapter:
                vm.set_adapter(adapter)
            if vm.run() is None:
                print(f"meshsmith: {feature} did not start: {vm.run_disabled_reason()}",
                      file=sys.stderr)

    vm.input_changed.connect(submit)


def _refuse(message: str, *, headless: bool) -> int:
    print(f"meshsmith: {message}", file=sys.stderr)
    if not headless:
        QMessageBox.critical(None, APP_NAME, message)
    return 2
