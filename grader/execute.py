"""An nbgrader ``Execute`` preprocessor that survives a dying kernel.

nbgrader 0.9 gives a submission no score at all when one cell kills its kernel
(``os._exit()``, a segfault, the memory limit): nbclient raises
``DeadKernelError`` and the whole notebook fails. Here the cell that killed the
kernel gets an error output saying so, a fresh kernel is started, the code cells
above it are replayed silently to rebuild the student's state, and grading goes
on with the next cell -- so the parts that work still earn their points.
A cell that hits the per-cell timeout gets a ``CellTimeoutError`` output saying so.
"""
from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

KERNEL_DIED = ("The kernel died while running this cell (os._exit, a crash, or the memory limit). "
               "It was restarted and the cells above were re-run; grading went on with the next cell.")


CELL_TIMED_OUT = "This cell ran longer than {timeout} s (the per-cell limit, Execute.timeout) and was interrupted."


class ResilientExecute(Execute):
    def preprocess(self, nb, resources=None, km=None):
        self._killer_cells = set()
        return super().preprocess(nb, resources=resources, km=km)

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

    async def _restart_and_replay(self, upto: int) -> None:
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
