"""An nbgrader ``Execute`` preprocessor that survives a dying kernel.

nbgrader 0.9 gives a submission no score at all when one cell kills its kernel
(``os._exit()``, a segfault, the memory limit): nbclient raises
``DeadKernelError`` and the whole notebook fails. Here the cell that killed the
kernel gets an error output saying so, a fresh kernel is started, the code cells
above it are replayed silently to rebuild the student's state, and grading goes
on with the next cell -- so the parts that work still earn their points.
A cell that hits the per-cell timeout gets a ``CellTimeoutError`` output saying so.

In a class worker (``grader.warm.enable``) the notebook runs in a kernel started while the
previous submission was graded, in an empty staging folder: the submission's folder is copied
in before the first cell and the folder is made to match it again afterwards (docs/grading.md).
"""
from __future__ import annotations

from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from grader import kernel as grading_kernel, warm

KERNEL_DIED = ("The kernel died while running this cell (os._exit, a crash, or the memory limit). "
               "It was restarted and the cells above were re-run; grading went on with the next cell.")


CELL_TIMED_OUT = "This cell ran longer than {timeout} s (the per-cell limit, Execute.timeout) and was interrupted."
# a warm kernel started without torch, for a notebook that needs it: what kernel.preload does,
# with the submission's folder off sys.path (a submitted torch.py must not be what gets imported)
TORCH_TOPUP = ("def _mlp_grader_preload():\n    import os, sys\n    saved = sys.path[:]\n"
               "    here = os.path.realpath(os.getcwd())\n"
               "    sys.path[:] = [p for p in saved if p and os.path.realpath(p) != here]\n"
               "    try:\n        import torch\n"
               "    except Exception:\n        pass\n    finally:\n        sys.path[:] = saved\n"
               "_mlp_grader_preload()\ndel _mlp_grader_preload\n")


class ResilientExecute(Execute):
    def preprocess(self, nb, resources=None, km=None):
        self._killer_cells = set()
        self._staged = None            # (warm kernel, the submission's folder) while it runs there
        try:
            return super().preprocess(nb, resources=resources, km=km)
        finally:
            self._unstage()

    def create_kernel_manager(self):
        folder = (self.resources or {}).get("metadata", {}).get("path")
        if not (warm.enabled() and folder and self.kernel_name and self.km is None):
            return super().create_kernel_manager()
        kernel = warm.take(self.kernel_name)
        needs_torch = grading_kernel.notebooks_need_torch(folder)
        # the next submission is most likely of the same assignment (the pool sends them in order)
        warm.prepare(self.kernel_name, self.config, torch=needs_torch)
        if kernel is None:
            return super().create_kernel_manager()
        warm.mirror(Path(folder), kernel.work)
        kernel.extra["topup"] = needs_torch and not kernel.torch
        self._staged = (kernel, Path(folder))
        self.km = kernel.km
        return self.km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if self._staged and self._staged[0].extra.get("topup"):
            await self.async_wait_for_reply(kc.execute(TORCH_TOPUP, silent=True, store_history=False,
                                                       allow_stdin=False))
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)   # nbclient binds its own

    def _unstage(self) -> None:
        """The staged kernel is done (or dead): the submission's folder gets what it left."""
        if not self._staged:
            return
        kernel, folder = self._staged
        self._staged = None
        try:
            if kernel.km.has_kernel:
                run_sync(kernel.km.shutdown_kernel)(now=True)   # nothing may write while we copy
            warm.mirror(kernel.work, folder)
        finally:
            warm.discard(kernel)

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.log.warning("kernel died in cell %s; restarting and replaying", index)
            cell.outputs.append(NotebookNode(output_type="error", ename="DeadKernelError",
                                             evalue=KERNEL_DIED, traceback=[f"DeadKernelError: {KERNEL_DIED}"]))
            self._killer_cells.add(index)
            run_sync(self._restart_and_replay)(index)
            return cell, self.resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # say so in the cell itself: the kernel's own KeyboardInterrupt does not tell a student why
        if cell is not None and self.interrupt_on_timeout:
            text = CELL_TIMED_OUT.format(timeout=timeout)
            cell.outputs.append(NotebookNode(output_type="error", ename="CellTimeoutError", evalue=text,
                                             traceback=[f"CellTimeoutError: {text}"]))
        return await super()._async_handle_timeout(timeout, cell)

    async def _go_cold(self) -> None:
        """A warm kernel died: a kernel started as without warm kernels, in the submission's
        own folder (which now holds what the dead kernel wrote)."""
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)
        self._unstage()
        self.km = super().create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()

    async def _restart_and_replay(self, upto: int) -> None:
        if self._staged:
            await self._go_cold()
        else:
            await self.km.restart_kernel(now=True)
            await self.kc.wait_for_ready(timeout=self.startup_timeout)
        for k, c in enumerate(self.nb.cells[:upto]):
            if c.cell_type != "code" or k in self._killer_cells or not c.source.strip():
                continue
            msg_id = self.kc.execute(c.source, silent=True, store_history=False, allow_stdin=False)
            try:
                await self.async_wait_for_reply(msg_id, c)
            except DeadKernelError:
                # a cell that passed before but kills the kernel now: skip it from here on
                self._killer_cells.add(k)
                await self.km.restart_kernel(now=True)
                await self.kc.wait_for_ready(timeout=self.startup_timeout)
