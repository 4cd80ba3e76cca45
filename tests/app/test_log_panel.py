"""Log panel: incremental reading (no Qt), the view model over a real folder and a real engine,
then the widget."""

from __future__ import annotations

import pytest

from app.viewmodels.log_viewmodel import JOB, LEVEL, MESSAGE, LogTail, LogViewModel, parse_line
from tests.app.history_support import append, log_line


@pytest.fixture
def logs(data_dir):
    return data_dir.logs


# ---- LogTail: plain Python ------------------------------------------------------------


def test_only_new_bytes_are_read(logs):
    log = logs / "engine-1.jsonl"
    append(log, log_line("one") + log_line("two"))
    tail = LogTail(logs)
    assert [e.message for e in tail.read_new().entries] == ["one", "two"]
    assert tail.bytes_read == log.stat().st_size
    # scribble over the bytes already read: a tail that re-read them would notice
    size = log.stat().st_size
    with log.open("r+b") as handle:
        handle.write(b"#" * size)
    assert tail.read_new().entries == []
    append(log, log_line("three"))
    assert [e.message for e in tail.read_new().entries] == ["three"]
    assert tail.bytes_read == log.stat().st_size  # every byte exactly once


def test_a_half_written_line_waits_for_its_newline(logs):
    log = logs / "engine-1.jsonl"
    line = log_line("whole", job_id="abc")
    append(log, line[:20])
    tail = LogTail(logs)
    assert tail.read_new().entries == []
    append(log, line[20:])
    (entry,) = tail.read_new().entries
    assert (entry.message, entry.job_id) == ("whole", "abc")
    assert tail.bytes_read == len(line)


def test_corrupt_lines_are_skipped(logs):
    log = logs / "engine-1.jsonl"
    append(log, log_line("before") + '{"ts": 1, "level": "inf\n' + "[1, 2]\n" + "\n"
           + log_line("after"))
    append(log, b"\xff\xfe not utf-8\n" + log_line("last").encode())
    assert [e.message for e in LogTail(logs).read_new().entries] == ["before", "after", "last"]
    assert parse_line(b'{"ts": "noon"}') is None


def test_the_first_look_reads_a_bounded_backlog_from_a_line_start(logs):
    log = logs / "engine-1.jsonl"
    append(log, "".join(log_line(f"old {i}") for i in range(1000)))
    tail = LogTail(logs, backlog_bytes=1000)
    messages = [e.message for e in tail.read_new().entries]
    assert 0 < len(messages) < 15 and messages[-1] == "old 999"
    assert all(m.startswith("old ") for m in messages)
    assert tail.bytes_read == 1000


def test_files_merge_by_time_and_a_truncated_file_starts_over(logs):
    append(logs / "engine-1.jsonl", log_line("engine", ts=2.0))
    append(logs / "workers.jsonl", log_line("worker", ts=1.0))
    tail = LogTail(logs)
    assert [e.message for e in tail.read_new().entries] == ["worker", "engine"]
    (logs / "workers.jsonl").write_text(log_line("x", ts=3.0))  # truncated: shorter now
    assert [e.message for e in tail.read_new().entries] == ["x"]
    fresh = logs / "fresh.tmp"
    fresh.write_text(log_line("replaced, and longer than before", ts=4.0))
    fresh.replace(logs / "engine-1.jsonl")  # a new file (inode) under the old name
    assert [e.message for e in tail.read_new().entries] == ["replaced, and longer than before"]


def test_a_big_backlog_arrives_in_chunks(logs):
    append(logs / "engine-1.jsonl", "".join(log_line(f"m{i}") for i in range(100)))
    tail = LogTail(logs, chunk_bytes=2000)
    batches = [tail.read_new()]
    while batches[-1].more:
        batches.append(tail.read_new())
    assert len(batches) > 3
    assert [e.message for b in batches for e in b.entries] == [f"m{i}" for i in range(100)]


# ---- the view model ---------------------------------------------------------------------


def shown(vm: LogViewModel, column: int = MESSAGE) -> list[str]:
    return [vm.proxy.index(r, column).data() for r in range(vm.proxy.rowCount())]


@pytest.fixture
def vm(logs, qtbot):
    append(logs / "engine-1.jsonl", log_line("engine started", level="info")
           + log_line("details", level="debug")
           + log_line("job a1 running", job_id="a1")
           + log_line("job b2 slow", level="warning", job_id="b2")
           + log_line("job a1 failed", level="error", job_id="a1"))
    model = LogViewModel(None, logs_dir=logs)
    qtbot.waitUntil(lambda: model.model.rowCount() == 5, timeout=5000)
    yield model
    model.close()


def test_filter_by_level_and_job(vm, qtmodeltester):
    qtmodeltester.check(vm.model)
    assert vm.job_ids == ["a1", "b2"]
    assert shown(vm) == ["engine started", "job a1 running", "job b2 slow", "job a1 failed"]
    vm.set_min_level("warning")
    assert shown(vm, LEVEL) == ["warning", "error"]
    vm.set_job_filter("a1")
    assert shown(vm) == ["job a1 failed"]
    vm.set_min_level("debug")
    assert shown(vm, JOB) == ["a1", "a1"]
    vm.set_job_filter("")
    assert len(shown(vm)) == 5


def test_appended_lines_arrive_through_the_file_watcher(vm, logs, qtbot):
    with qtbot.waitSignal(vm.job_ids_changed, timeout=5000) as changed:
        append(logs / "engine-1.jsonl", log_line("job c3 queued", job_id="c3"))
    assert changed.args == [["a1", "b2", "c3"]]
    assert shown(vm)[-1] == "job c3 queued"
    with qtbot.waitSignal(vm.entries_read, timeout=5000, check_params_cb=lambda n: n == 1):
        append(logs / "workers.jsonl", log_line("worker started", logger="engine.workers.pool"))
    assert shown(vm)[-1] == "worker started"


def test_the_model_keeps_only_the_newest_entries(logs, qtbot):
    append(logs / "engine-1.jsonl", "".join(log_line(f"m{i}") for i in range(30)))
    vm = LogViewModel(None, logs_dir=logs, max_entries=10)
    qtbot.waitUntil(lambda: shown(vm)[-1:] == ["m29"], timeout=5000)
    assert shown(vm) == [f"m{i}" for i in range(20, 30)]
    vm.close()


@pytest.mark.slow
def test_new_lines_appear_after_a_job_runs(engine, box_obj, qtbot):
    from app.bridge import EngineBridge

    vm = LogViewModel(EngineBridge(engine))  # the engine's logs folder, as the studio uses it
    staged = engine.stage(str(box_obj))
    job_id = engine.submit("mesh_segmentation", [staged], adapter="sleepy",
                           params={"steps": 2, "step_s": 0.01})
    assert engine.wait(job_id, timeout=60).status == "succeeded"
    qtbot.waitUntil(lambda: f"job {job_id} succeeded" in shown(vm), timeout=10_000)
    assert job_id in vm.job_ids
    vm.set_job_filter(job_id)
    assert shown(vm) == [f"job {job_id} succeeded"]
    vm.close()


# ---- the widget -------------------------------------------------------------------------


def test_view_combos_filter_the_table(vm, logs, qtbot):
    from app.views.log_view import LogView

    view = LogView(vm)
    qtbot.addWidget(view)
    view.show()
    assert [view.job_combo.itemText(i) for i in range(view.job_combo.count())] == [
        "All jobs", "a1", "b2"]
    view.level_combo.setCurrentIndex(view.level_combo.findData("error"))
    assert view.table.model().rowCount() == 1
    view.level_combo.setCurrentIndex(view.level_combo.findData("debug"))
    view.job_combo.setCurrentIndex(view.job_combo.findData("b2"))
    assert shown(vm) == ["job b2 slow"]
    with qtbot.waitSignal(vm.job_ids_changed, timeout=5000):
        append(logs / "engine-1.jsonl", log_line("job d4 done", job_id="d4"))
    assert view.job_combo.findData("d4") == 3 and view.job_combo.currentData() == "b2"


def test_a_failed_job_logs_its_sentence_which_can_be_found_and_copied(engine, box_obj, qtbot):
    from PySide6.QtGui import QGuiApplication

    from app.bridge import EngineBridge
    from app.views.log_view import LogView

    vm = LogViewModel(EngineBridge(engine))
    view = LogView(vm)
    qtbot.addWidget(view)
    view.show()
    job_id = engine.submit("mesh_segmentation", [engine.stage(str(box_obj))], adapter="sleepy",
                           params={"steps": 1, "step_s": 0.0, "fail": True})
    result = engine.wait(job_id, timeout=60)
    assert result.status == "failed"
    line = f"job {job_id} failed: {result.error.message}"
    qtbot.waitUntil(lambda: line in shown(vm), timeout=10_000)
    view.search_edit.setText("TOLD to")  # words, any case
    assert [m for m in shown(vm)] == [m for m in shown(vm) if "told to" in m.lower()]
    assert line in shown(vm)
    view.table.selectAll()
    view.copy_selection()
    assert line in QGuiApplication.clipboard().text()
    vm.close()


def test_sources_read_in_plain_words():
    from app.viewmodels.log_viewmodel import source_name

    assert [source_name(n) for n in ("engine.runtime.engine", "engine.workers.pool",
                                     "adapters.instant_meshes", "app.views.main_window",
                                     "py.warnings")] == [
        "engine", "worker", "adapter", "studio", "py.warnings"]
