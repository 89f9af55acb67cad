"""The grading kernel really runs under its limits."""
from conftest import run_in_grading_kernel


def test_grading_kernel_has_memory_and_file_limits(isolated_env):
    code = ("import sys, resource, numpy as np\n"
            "print('torch' in sys.modules)\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**30)\n"
            "try:\n    _b = np.ones(int(50e9 / 8))\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')\n"
            "try:\n    _c = bytearray(5 * 2**30)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')\n"
            "try:\n    open('big.bin', 'wb').write(b'x' * 2 * 2**20)\n    print('written')\n"
            "except OSError as e:\n    print('OSError', e.errno)\n")
    text = run_in_grading_kernel(isolated_env, code, env={"MLP_GRADER_PRELOAD": "1", "MLP_GRADER_MEM_GB": "3",
                                                          "MLP_GRADER_FILE_MB": "1"})
    assert text == ["True", "3", "MemoryError", "MemoryError", "OSError", "27"], text  # 27 = EFBIG


def test_kernel_preloads_torch_only_for_notebooks_that_import_it(isolated_env):
    plain, uses = isolated_env / "plain", isolated_env / "uses"
    plain.mkdir()
    uses.mkdir()
    (plain / "a.ipynb").write_text('{"cells": [{"source": "import numpy as np  # torch is mentioned"}]}')
    (uses / "a.ipynb").write_text('{"cells": [{"source": "from utils.train import make_mlp"}]}')
    probe = "import sys\nprint('torch' in sys.modules, 'numpy' in sys.modules)"
    assert run_in_grading_kernel(plain, probe) == ["False", "True"]
    assert run_in_grading_kernel(uses, probe) == ["True", "True"]


def test_submitted_files_cannot_replace_the_checks_or_the_kernel(isolated_env):
    """A submission folder that ships utils/checks.py and grader/kernel.py: the kernel
    starts from the installed course and the tests import the real checks."""
    for pkg, body in (("utils", "def assert_close(*a, **k):\n    return None\n"),
                      ("grader", "raise SystemExit('fake kernel')\n")):
        (isolated_env / pkg).mkdir()
        (isolated_env / pkg / "__init__.py").write_text("")
        (isolated_env / pkg / ("checks.py" if pkg == "utils" else "kernel.py")).write_text(body)
    code = ("from utils.checks import assert_close, CheckError\n"
            "try:\n    assert_close(1.0, 2.0, name='x')\n    print('fooled')\n"
            "except CheckError:\n    print('caught')\n"
            "import utils.checks\n"
            "try:\n    utils.checks.assert_close = None\n    print('replaced')\n"
            "except AttributeError:\n    print('read-only')\n")
    assert run_in_grading_kernel(isolated_env, code) == ["caught", "read-only"]
