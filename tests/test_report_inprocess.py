"""In-process notebook execution and the report worker's loop: every report starts from a clean
namespace however the previous one ended, and a worker freezes its long-lived objects once."""

from __future__ import annotations

import gc

import nbformat
import pytest

from lndbayes.report import build, notebook
from lndbayes.report.notebook import NotebookCellError, clean_namespace, execute_in_process


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# Parameters\nvalue = 0", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, str(path))
    return path


def _texts(path):
    nb = nbformat.read(str(path), as_version=4)
    return [o.get("text") for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_each_report_starts_clean_and_same_input_gives_same_output(tmp_path):
    tpl = _notebook(tmp_path / "t.ipynb",
                    "assert 'leftover' not in globals(), 'namespace not clean'\nleftover = value\n"
                    "print(sorted(k for k in globals() if not k.startswith('_')))")
    outs = []
    for i in range(3):
        out = tmp_path / f"out{i}.ipynb"
        execute_in_process(tpl, out, {"value": 7})
        assert clean_namespace()
        assert "leftover" not in notebook._shell().user_ns
        outs.append(_texts(out))
    assert outs[0] == outs[1] == outs[2]


def test_a_namespace_dirtied_between_reports_is_reset(tmp_path):
    tpl = _notebook(tmp_path / "t.ipynb", "assert 'stray' not in globals()\nprint(value)")
    execute_in_process(tpl, tmp_path / "a.ipynb", {"value": 1})
    notebook._shell().user_ns["stray"] = 1          # something ran outside a report
    assert not clean_namespace()
    execute_in_process(tpl, tmp_path / "b.ipynb", {"value": 2})
    assert _texts(tmp_path / "b.ipynb") == ["2\n"]
    assert clean_namespace()


def test_a_failing_report_leaves_a_clean_namespace(tmp_path):
    tpl = _notebook(tmp_path / "t.ipynb", "partial = 1\nraise ValueError('boom')")
    with pytest.raises(NotebookCellError):
        execute_in_process(tpl, tmp_path / "a.ipynb", {})
    assert clean_namespace() and "partial" not in notebook._shell().user_ns


def test_worker_freezes_once_after_its_first_build_and_unfreezes_when_stopped(monkeypatch):
    calls, freezes = [], []
    monkeypatch.setattr(build, "worker_init", lambda: None)      # no signal handlers in pytest
    monkeypatch.setattr(build, "build_task", lambda task: calls.append(task["n"]) or {"n": task["n"]})
    monkeypatch.setattr(build, "freeze_long_lived", lambda: freezes.append(len(calls)))
    class Conn:                                       # the runner's end of the pipe
        inbox, sent, closed = [{"n": 1}, {"n": 2, "env": None}, {"n": 3}], [], False

        def recv(self):
            if not self.inbox:
                raise EOFError                        # the runner went away
            return self.inbox.pop(0)

        def send(self, obj):
            self.sent.append(obj)

        def close(self):
            self.closed = True

    conn = Conn()
    build.worker_loop(conn)
    assert conn.sent == [{"n": 1}, {"n": 2}, {"n": 3}] and conn.closed
    assert calls == [1, 2, 3]
    assert freezes == [1]                             # once, after the first build


def test_freeze_long_lived_keeps_collecting_new_garbage():
    class Cycle:
        pass

    before = gc.get_freeze_count()
    try:
        build.freeze_long_lived()
        assert gc.get_freeze_count() >= before
        import weakref
        a = Cycle()
        a.self = a
        ref = weakref.ref(a)
        del a
        gc.collect()
        assert ref() is None                          # made after the freeze: still freed
    finally:
        gc.unfreeze()


def test_the_shared_html_exporter_carries_nothing_from_one_report_to_the_next(tmp_path):
    from lndbayes.report.notebook import export_html

    a = _notebook(tmp_path / "a.ipynb", "print('only in a')")
    b = _notebook(tmp_path / "b.ipynb", "print('only in b')")
    execute_in_process(a, tmp_path / "ra.ipynb", {})
    execute_in_process(b, tmp_path / "rb.ipynb", {})
    export_html(tmp_path / "ra.ipynb", tmp_path / "a1.html", title="Report A")
    export_html(tmp_path / "rb.ipynb", tmp_path / "b.html", title="Report B")
    export_html(tmp_path / "ra.ipynb", tmp_path / "a2.html", title="Report A")
    a1, a2, hb = ((tmp_path / n).read_text() for n in ("a1.html", "a2.html", "b.html"))
    assert a1 == a2
    assert "only in a" in a1 and "Report A" in a1
    assert "only in a" not in hb and "Report A" not in hb and "only in b" in hb and "Report B" in hb


def test_building_in_process_leaves_this_process_able_to_spawn(tmp_path):
    """IPython swaps its namespace module (no __spec__) into sys.modules["__main__"]; a report
    run started later in the same process must still spawn its workers (it failed with
    "module '__main__' has no attribute '__spec__'" after an in-process build)."""
    import multiprocessing.spawn
    import sys

    main = sys.modules["__main__"]
    execute_in_process(_notebook(tmp_path / "t.ipynb", "x = value"), tmp_path / "a.ipynb", {"value": 1})
    assert sys.modules["__main__"] is main
    assert multiprocessing.spawn.get_preparation_data("lndbayes-report-worker")["authkey"]
