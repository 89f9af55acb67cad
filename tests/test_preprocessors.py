"""The course's nbgrader preprocessors, on hand-made cells."""
from nbformat.v4 import new_code_cell, new_output

from grader.preprocessors import ClearHiddenTracebacks, LimitOutputChars


def test_output_is_cut_to_max_chars():
    cell = new_code_cell("print('x' * 10**6)", outputs=[
        new_output("stream", name="stdout", text="x" * 10**6),
        new_output("execute_result", data={"text/plain": "y" * 50}, execution_count=1)])
    pre = LimitOutputChars(max_chars=1000)
    cell, _ = pre.preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[0].text) < 1200 and "output truncated: 1,000,000 characters" in cell.outputs[0].text
    assert cell.outputs[1].data["text/plain"] == "y" * 50     # short outputs untouched


def test_hidden_test_tracebacks_keep_only_the_message():
    src = "### BEGIN HIDDEN TESTS\nassert_close(f(np.array([1.0, 2.0])), [3, 4], name='f(pair)')\n### END HIDDEN TESTS"
    err = new_output("error", ename="CheckError", evalue="f(pair): entry (0,) expected 3, got 1",
                     traceback=["Traceback", "----> 2 assert_close(f(np.array([1.0, 2.0])), [3, 4], name='f(pair)')"])
    cell, _ = ClearHiddenTracebacks().preprocess_cell(new_code_cell(src, outputs=[err]), {}, 0)
    tb = "\n".join(cell.outputs[0].traceback)
    assert "np.array([1.0, 2.0])" not in tb and "expected 3, got 1" in tb
    visible = new_code_cell("assert f(1) == 2", outputs=[new_output(
        "error", ename="AssertionError", evalue="", traceback=["----> 1 assert f(1) == 2"])])
    cell, _ = ClearHiddenTracebacks().preprocess_cell(visible, {}, 0)
    assert cell.outputs[0].traceback == ["----> 1 assert f(1) == 2"]   # visible tests keep theirs
