"""``theon.tensor.subtensor``: Theano's module of indexing functions.

Theano's ``advanced_*subtensor1`` take one integer vector ``ilist`` on the
first dim; ``advanced_*subtensor`` any advanced index. All are ``x[...]``
and ``set_subtensor``/``inc_subtensor`` on it (``frontend/indexing.py``;
``inc`` accumulates over repeated indices, as ``np.add.at``)."""
from ..frontend.indexing import inc_subtensor, set_subtensor, take  # noqa: F401
from ..frontend.indexing import getitem as _getitem
from ..frontend.basic import as_tensor_variable as _as_tensor


def _vector_index(ilist, fname):
    ilist = _as_tensor(ilist)
    if ilist.ndim != 1 or not ilist.dtype.startswith(("int", "uint")):
        raise TypeError(f"{fname}: ilist must be an integer vector, got {ilist!r}")
    return ilist


def advanced_subtensor1(x, ilist):
    """``x[ilist]``: rows of x at the integer vector ``ilist``."""
    return _getitem(_as_tensor(x), _vector_index(ilist, "advanced_subtensor1"))


def advanced_set_subtensor1(x, y, ilist):
    """A copy of x with ``x[ilist] = y``."""
    return set_subtensor(advanced_subtensor1(x, ilist), y)


def advanced_inc_subtensor1(x, y, ilist):
    """A copy of x with y added at ``x[ilist]`` (repeated rows add up)."""
    return inc_subtensor(advanced_subtensor1(x, ilist), y)


def advanced_subtensor(x, *args):
    """``x[args]`` (NumPy advanced indexing)."""
    return _getitem(_as_tensor(x), tuple(args))


def advanced_set_subtensor(x, y, *args):
    return set_subtensor(advanced_subtensor(x, *args), y)


def advanced_inc_subtensor(x, y, *args):
    return inc_subtensor(advanced_subtensor(x, *args), y)
