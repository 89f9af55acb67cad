"""Course tooling for TAs and CI: regenerate releases, build the sample class,
autograde, feedback, export and the grade table -- all through nbgrader's real CLI
and SQLite gradebook. Not shipped to students: it reads ``source/`` at run time."""
