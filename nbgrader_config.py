"""nbgrader configuration for the MLP course (nbgrader 0.9.6).

Run nbgrader from this folder (the repository root): it is the course directory.
"""
import os

c = get_config()  # noqa: F821 - injected by traitlets

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "mlp-insight"
c.CourseDirectory.root = COURSE_ROOT
# The SQLite gradebook lives next to this file (git-ignored; the main job rebuilds it).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, "gradebook.db")

# Per-cell timeout while autograding, in seconds. nbgrader 0.9 reads Execute.timeout
# (ExecutePreprocessor.timeout is ignored). A cell that runs longer is interrupted and
# graded as failed; the rest of the notebook still runs.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Feedback goes to students: it must not show the hidden tests (nbgrader's default does).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grader.preprocessors.ClearHiddenTracebacks",  # tracebacks print hidden test lines
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Release notebooks keep their cell outputs cleared and their kernelspec as in source/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
