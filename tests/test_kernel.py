"""The grading kernel really runs under its limits."""
from jupyter_client.manager import start_new_kernel

from grader import cli
from conftest import REPO


_out = []


def _collect(msg):
    if msg["msg_type"] == "stream":
        _out.append(msg["content"]["text"])


def test_grading_kernel_has_memory_and_file_limits(isolated_env, monkeypatch):
    cli.load_config(REPO)  # puts grader/share on JUPYTER_PATH, as nbgrader does
    monkeypatch.setenv("MLP_GRADER_MEM_GB", "3")
    monkeypatch.setenv("MLP_GRADER_FILE_MB", "1")
    km, kc = start_new_kernel(kernel_name="mlp-grader", cwd=str(isolated_env))
    try:
        _out.clear()
        kc.execute_interactive(
            "import sys, resource, numpy as np\n"
            "print('torch' in sys.modules)\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**30)\n"
            "try:\n    _b = np.ones(int(50e9 / 8))\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')\n"
            "try:\n    _c = bytearray(5 * 2**30)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')\n"
            "try:\n    open('big.bin', 'wb').write(b'x' * 2 * 2**20)\n    print('written')\n"
            "except OSError as e:\n    print('OSError', e.errno)\n",
            timeout=60, output_hook=_collect)
        text = "".join(_out).split()
        assert text == ["True", "3", "MemoryError", "MemoryError", "OSError", "27"], text  # 27 = EFBIG
        assert km.is_alive()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
