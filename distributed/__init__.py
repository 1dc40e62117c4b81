"""theon.distributed: compiled functions on many machines.

``theon.distributed.mpi`` (extra ``theon[mpi]``: mpi4py and an MPI library)
runs a training step data-parallel over MPI ranks: ``DataParallel(train)``
splits the step's IR into a gradient part and an apply part
(``split.py``, the ``data-parallel-split`` pass), averages the gradients with
one fused allreduce and applies the same update on every rank.
``theon.distributed.dask`` (extra ``theon[dask]``) evaluates compiled
functions over Dask arrays. ``theon-opt --plugin theon.distributed.plugin``
adds the ``data-parallel-split`` pass to theon-opt.

Submodules are imported on use, so ``import theon.distributed`` needs
neither mpi4py nor anything else beyond theon.
"""
from .split import DataParallelSplit, SplitPlan, split_step  # noqa: F401


def __getattr__(name):
    if name in ("DataParallel", "DistributedError"):
        from . import mpi
        return getattr(mpi, name)
    raise AttributeError(f"module 'theon.distributed' has no attribute {name!r}")
