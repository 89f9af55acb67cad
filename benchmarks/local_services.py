"""Real Dask and PostgreSQL processes on 127.0.0.1, for the tests and the scaling benchmark.

``DaskProcesses`` starts ``dask scheduler`` and ``dask worker`` as separate processes (each in its
own session, so one ``stop`` reaches their children); ``TempPostgres`` runs ``initdb`` into a
temporary folder and ``pg_ctl start`` on a free port, as Debian's ``postgres`` user when run as
root (PostgreSQL refuses to run as root). Both leave nothing behind after ``close()``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaskProcesses:
    """A scheduler and ``n_workers`` single-threaded workers, as separate processes on 127.0.0.1.

    ``env`` is added to every process's environment (e.g. ``DASK_DISTRIBUTED__...`` settings),
    ``worker_env`` to the workers' only; ``memory_limit`` is passed to ``dask worker``.
    """

    def __init__(self, n_workers: int, logs: Path, *, env: dict | None = None, worker_env: dict | None = None,
                 memory_limit: str | None = None, timeout: float = 180):
        dask = str(Path(sys.executable).with_name("dask"))
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        base_env = dict(os.environ, **(env or {}))
        t0 = time.perf_counter()
        self.procs = [self._start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                   "--no-dashboard"], "scheduler", base_env)]
        limit = ["--memory-limit", memory_limit] if memory_limit else []
        self.workers = [self._start([dask, "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                     "--host", "127.0.0.1", "--no-dashboard", *limit,
                                     "--local-directory", str(self.logs / f"w{i}")], f"worker{i}",
                                    dict(base_env, **(worker_env or {})))
                        for i in range(n_workers)]
        self.procs += self.workers
        try:
            self.wait_for_workers(n_workers, timeout)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.perf_counter() - t0

    def _start(self, cmd, name, env):
        with open(self.logs / f"{name}.log", "w") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_for_workers(self, n: int, timeout: float = 180) -> None:
        from distributed import Client
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with Client(self.address, timeout="5s") as c:
                    c.wait_for_workers(n, timeout=timeout)
                    return
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the Dask processes did not start within {timeout:.0f} s; see {self.logs}")

    def worker_process(self, k: int):
        """The worker process (child of the ``dask worker`` nanny) of worker ``k``, or None."""
        import psutil
        kids = [c for c in psutil.Process(self.workers[k].pid).children()
                if "spawn_main" in " ".join(c.cmdline()) and "resource_tracker" not in " ".join(c.cmdline())]
        return kids[0] if kids else None

    def close(self) -> None:
        from grader.distributed import stop_process_groups
        stop_process_groups(self.procs)


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's ``initdb`` and ``pg_ctl`` (Debian's newest), or None."""
    root = Path("/usr/lib/postgresql")
    found = [p for p in sorted(root.glob("*/bin"), reverse=True) if (p / "initdb").exists()] if root.is_dir() else []
    if found:
        return found[0]
    return Path(shutil.which("initdb")).parent if shutil.which("initdb") else None


class TempPostgres:
    """A PostgreSQL server in a temporary folder on a free port of 127.0.0.1 (no unix socket).

    Raises FileNotFoundError without server binaries and LookupError when run as root without a
    ``postgres`` user to run the server as.
    """

    def __init__(self, prefix: str = "mlp-pg-"):
        self.bin = postgres_bin()
        if self.bin is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
        self.sudo, self.user = [], os.environ.get("USER", "grader")
        owner = None
        if os.geteuid() == 0:
            import pwd
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise LookupError("running as root and there is no `postgres` user to run the server as") from None
            self.sudo, self.user = ["runuser", "-u", "postgres", "--"], "postgres"
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.started = False
        try:
            if owner is not None:
                os.chown(self.base, owner.pw_uid, owner.pw_gid)
                self.base.chmod(0o700)
            self._run("initdb", "-D", str(self.base / "data"), "-U", self.user, "--auth=trust", "-E", "UTF8",
                      "--no-sync")
            self._run("pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "server.log"), "-w",
                      "-t", "60", "-o", f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off",
                      "start")
            self.started = True
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)    # a server that never started: no folder left
            raise

    def _run(self, *cmd):
        subprocess.run(self.sudo + [str(self.bin / cmd[0]), *cmd[1:]], check=True, capture_output=True,
                       text=True, timeout=120)

    def database(self, name: str) -> str:
        """Create database ``name``; its SQLAlchemy URL."""
        import psycopg2
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        con.autocommit = True
        con.cursor().execute(f"CREATE DATABASE {name}")
        con.close()
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
