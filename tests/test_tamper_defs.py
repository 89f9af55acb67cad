"""An answer cell may define the check names its reference solution defines (the regularization
assignment asks for the student's own ``numeric_gradient`` and ``rel_error``); any other check name
is still flagged."""
from grader import tamper

STUDENT = "def numeric_gradient(f, x, h=1e-5):\n    return 0\n\n\ndef rel_error(x, y):\n    return 0.0\n"


def test_defined_check_names():
    assert tamper.defined_check_names(STUDENT) == {"numeric_gradient", "rel_error"}
    assert tamper.defined_check_names("assert_close = print\nx = 1\n") == {"assert_close"}
    assert tamper.defined_check_names("def zscore(x):\n    return x\n") == set()


def test_requested_definitions_are_not_flagged():
    assert tamper.scan_source(STUDENT, {"numeric_gradient", "rel_error"}) == []


def test_other_check_names_are_still_flagged():
    flags = tamper.scan_source(STUDENT, ())
    assert len(flags) == 1 and "redefines a check function" in flags[0] and "numeric_gradient" in flags[0]
    sneaky = STUDENT + "\n\ndef assert_close(*a, **k):\n    return None\n"
    flags = tamper.scan_source(sneaky, {"numeric_gradient", "rel_error"})
    assert len(flags) == 1 and "def assert_close" in flags[0], flags
    # the allowance covers definitions only: rebinding utils.checks is flagged whatever the solution defines
    flags = tamper.scan_source("import utils.checks\nutils.checks.rel_error = lambda x, y: 0.0\n", {"rel_error"})
    assert any("rebinds a library function" in f for f in flags), flags
