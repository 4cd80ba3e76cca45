"""Everything the command line is given is checked before a job is recorded: each mistake is
one sentence on stderr, exit 2, no traceback, and the history stays empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.small_disks import remount, small_disk


def cli(*args: str, home: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    if home is not None:
        env["MESHSMITH_HOME"] = str(home)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)


def one_sentence(proc: subprocess.CompletedProcess[str], label: object = "") -> str:
    assert proc.returncode == 2, (label, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, (label, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshsmith: "), (label, proc.stderr)
    assert lines[0].endswith("."), (label, lines)
    return lines[0]


def no_job_recorded(home: Path) -> None:
    db = home / "jobs.sqlite"
    if db.exists():
        proc = cli("history", "--json", home=home)
        assert proc.stdout.strip() == "[]", proc.stdout


PARAMS = {  # --param value -> what the sentence must say
    "num_parts=" + "[" * 1000: "nests too deeply",
    "num_parts=" + "[" * 20 + "]" * 20: "nests deeper than 8 levels",
    "target_faces=true": "target_faces for decimate: must be a number, not true or false",
    "target_faces=1e400": "finite number",
    "target_faces=NaN": "finite number",
}


def test_abusive_parameters_are_one_sentence_before_any_job(box_obj, meshsmith_home):
    for param, says in PARAMS.items():
        line = one_sentence(cli("run", "mesh_retopology", str(box_obj), "--adapter", "decimate",
                                "--param", param), param[:30])
        assert says in line, line
    line = one_sentence(cli("run", "uv_unwrapping", str(box_obj),
                            "--param", "max_chart_area=Infinity"))
    assert line == ("meshsmith: Parameter max_chart_area for xatlas: must be a finite number, "
                    "not infinity or NaN.")
    no_job_recorded(meshsmith_home)


def test_a_bad_out_folder_is_refused_before_the_job_runs(box_obj, tmp_path, meshsmith_home):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    cases = {"": "--out needs a folder name; it was empty.",
             str(a_file): "is a file, not a folder",
             str(a_file / "below"): "is a file",
             "/proc": "is a system folder",
             "/proc/self/new": "is a system folder",
             "/dev/null": "is a system folder"}
    for out, says in cases.items():
        line = one_sentence(cli("run", "uv_unwrapping", str(box_obj), "--out", out), out)
        assert says in line, line
    with small_disk(tmp_path / "ro", read_only=True) as read_only:
        line = one_sentence(cli("run", "uv_unwrapping", str(box_obj), "--out", str(read_only)))
        assert "cannot be written (Read-only file system)" in line
    no_job_recorded(meshsmith_home)


def test_an_unusable_meshsmith_home_is_one_sentence(box_obj, tmp_path):
    a_file = tmp_path / "home-is-a-file"
    a_file.write_text("x")
    for home, says in ((a_file, "is a file, not a folder"),
                       ("/proc/x", "cannot be created"),
                       (a_file / "below", "cannot be created")):
        for command in (["run", "uv_unwrapping", str(box_obj)], ["history"]):
            line = one_sentence(cli(*command, home=home), (home, command))
            assert f"The Meshsmith data folder {home} {says}" in line, line


def test_a_read_only_data_folder_refuses_runs_but_history_still_reads(box_obj, tmp_path):
    with small_disk(tmp_path / "home") as home:
        made = cli("run", "mesh_retopology", str(box_obj), "--adapter", "decimate",
                   "--param", "target_faces=8", home=home)
        assert made.returncode == 0, made.stderr
        remount(home, read_only=True)
        line = one_sentence(cli("run", "uv_unwrapping", str(box_obj), home=home))
        assert line == (f"meshsmith: The Meshsmith data folder {home} is read-only; set "
                        "MESHSMITH_HOME to a folder you can write to.")
        listed = cli("history", home=home)
        assert listed.returncode == 0, listed.stderr
        assert "succeeded" in listed.stdout and "mesh_retopology" in listed.stdout


def test_an_immutable_history_file_is_one_sentence(box_obj, tmp_path):
    home = tmp_path / "home"
    made = cli("run", "mesh_retopology", str(box_obj), "--adapter", "decimate",
               "--param", "target_faces=8", home=home)
    assert made.returncode == 0, made.stderr
    db = home / "jobs.sqlite"
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a filesystem that supports it")
    try:
        line = one_sentence(cli("run", "uv_unwrapping", str(box_obj), home=home))
        assert "jobs.sqlite cannot be written" in line, line
        assert cli("history", home=home).returncode == 0
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)


def test_the_one_parameter_check_refuses_bools_as_numbers_but_keeps_form_text():
    from adapters.registry import default_registry
    from engine.errors import MeshsmithError

    segmentation = default_registry().find("mesh_segmentation")
    assert segmentation.parse_params({"num_parts": "5"}).num_parts == 5  # the studio's text field
    assert segmentation.parse_params({"num_parts": " "}).num_parts is None
    for raw in ({"num_parts": True}, {"num_parts": float("nan")}, {"num_parts": [[[[[[[[[[]]]]]]]]]]}):
        with pytest.raises(MeshsmithError):
            segmentation.parse_params(raw)


def test_a_ctrl_c_another_thread_received_still_cancels_the_wait():
    """The kernel may hand SIGINT to any thread that does not block it; the wait must still
    notice within a moment and cancel, not sleep on until the job ends by itself."""
    import signal
    import threading
    import time
    from concurrent.futures import Future

    from app.cli_checks import wait_or_cancel

    outcome: Future[str] = Future()
    started = threading.Event()

    def other_thread() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # only this one takes it
        started.wait()
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(20)
        if not outcome.done():
            outcome.set_result("finished by itself")  # the cancel never came

    def cancel() -> None:
        if not outcome.done():
            outcome.set_result("cancelled")

    thread = threading.Thread(target=other_thread, daemon=True)
    thread.start()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        started.set()
        assert wait_or_cancel(outcome.result, cancel, 1.0) == "cancelled"
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
