"""The errors the grader reports to a person; each message says what to do. A leaf module."""


class PipelineError(RuntimeError):
    """A grading step cannot go on (no course, no gradebook, a broken config, ...)."""


class SpecError(ValueError):
    """A sample-class spec (``samples/<assignment>.json``) is malformed."""


class SandboxError(RuntimeError):
    """bubblewrap cannot confine the grading kernel here."""


class SiteError(RuntimeError):
    """The course website cannot be built."""
