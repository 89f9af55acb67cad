"""nbgrader configuration for the MLP course (nbgrader 0.9.6).

Run nbgrader from this folder (the repository root): it is the course directory.
"""
import os

c = get_config()  # noqa: F821 - injected by traitlets

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "mlp-insight"
c.CourseDirectory.root = COURSE_ROOT
# The SQLite gradebook lives next to this file (git-ignored; the main job rebuilds it).
# Several graders: MLP_GRADEBOOK_URL=postgresql+psycopg2://USER@HOST:PORT/DB (any SQLAlchemy URL).
c.CourseDirectory.db_url = os.environ.get("MLP_GRADEBOOK_URL") or "sqlite:///" + os.path.join(COURSE_ROOT, "gradebook.db")

# Per-cell timeout while autograding, in seconds. nbgrader 0.9 reads Execute.timeout
# (ExecutePreprocessor.timeout is ignored). A cell that runs longer is interrupted and
# graded as failed; the rest of the notebook still runs.
c.Execute.timeout = int(os.environ.get("MLP_GRADER_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True
# After a cell finishes, its output may still be in flight (a cell that prints 100 MB):
# nbclient's default 4 s wait for it fails the whole submission.
c.Execute.iopub_timeout = 60
# The grading kernel preloads numpy and torch (grader/kernel.py) before it reports ready.
c.Execute.startup_timeout = 120

# Feedback goes to students: it must not show the hidden tests (nbgrader's default does).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grader.preprocessors.ClearHiddenTracebacks",  # tracebacks print hidden test lines
    "nbgrader.preprocessors.ClearHiddenTests",
    "grader.sanitize.SanitizeOutputs",  # again, for notebooks autograded before outputs were cleaned
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Release notebooks keep their cell outputs cleared and their kernelspec as in source/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde with an Execute that survives a kernel death in one cell (grader/execute.py).
c.Autograde.autograde_preprocessors = [
    "grader.execute.ResilientExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "grader.preprocessors.LimitOutputChars",
    # student outputs and markdown become inert before anyone opens them (formgrader, feedback)
    "grader.sanitize.SanitizeOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Student code runs in the resource-limited grading kernel (grader/kernel.py: memory,
# file size and CPU limits), whatever kernelspec the submission names.
import importlib.util  # noqa: E402

# grader/share/kernels/mlp-grader, found through the installed package (requirements.txt: -e .)
_specs = os.path.join(os.path.dirname(importlib.util.find_spec("grader.kernel").origin), "share")
if _specs not in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (_specs, os.environ.get("JUPYTER_PATH", "")) if p)
c.Execute.kernel_name = "mlp-grader"

# Before nbgrader restores locked cells from the gradebook, note what a submission changed
# (edited or deleted tests, points, monkeypatching, reading the course's files) and flag it
# for a TA (grader/tamper.py). Deleted grade cells are added back and graded (nbgrader #1682).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "grader.tamper.FlagTampering",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.OverwriteCells.add_missing_cells = True

# The grading kernel runs inside bubblewrap without network (grader/sandbox.py), so nbgrader
# reaches it through unix sockets, in a folder private to this grading process (mounted into
# its kernel's sandbox; the pid keeps parallel graders apart).
import tempfile  # noqa: E402

c.KernelManager.transport = "ipc"
_IPC_DIR = os.path.join(tempfile.gettempdir(), f"mlp-grader-ipc-{os.getpid()}")
os.makedirs(_IPC_DIR, mode=0o700, exist_ok=True)
c.KernelManager.ip = os.path.join(_IPC_DIR, "kernel")
os.environ["MLP_GRADER_COURSE_ROOT"] = COURSE_ROOT   # the sandbox hides this course's files
import glob as _glob  # noqa: E402
import shutil as _shutil  # noqa: E402

for _old in _glob.glob(os.path.join(tempfile.gettempdir(), "mlp-grader-ipc-*")):
    _pid = _old.rsplit("-", 1)[-1]
    if _pid.isdigit() and not os.path.exists(f"/proc/{_pid}"):   # its grading process is gone
        _shutil.rmtree(_old, ignore_errors=True)
