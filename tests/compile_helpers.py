"""One compile per distinct graph in a test process.

Table tests whose cases build the same graph (inputs of the same types, the
same ops and attributes) and differ only in the data -- sizes, values,
layouts, all run-time properties for a graph whose dims are unknown -- call
``shared_function`` instead of ``theon.function``: the first such case
compiles, the others call that compiled function. A compile costs ~0.4 s of
CPU even with the object cache warm (passes, lowering, LLVM IR text); the
data-only cases were most of some tables' time.

The key is the input IR exactly as theon.function builds it
(``build_function``'s text: types, ops, attributes, constants), the keyword
arguments and the whole ``theon.config``, so two cases share a function only
when theon.function would get the same input under the same settings.
Stateless graphs only: one with shared variables or updates is refused (a
call would change what another case sees). Input names are not in the key:
use it for tables of unnamed inputs.
"""
import theon
from theon.frontend.build import build_function

_FUNCTIONS = {}


def shared_function(inputs, outputs, **kwargs):
    """``theon.function(inputs, outputs, **kwargs)``, compiled once per
    distinct graph (see the module docstring)."""
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    func, shared = build_function(list(inputs), outs)
    if shared or func.updates:
        raise ValueError("shared_function: the graph has shared variables or updates; "
                         "compile it with theon.function")
    key = (str(func), isinstance(outputs, (list, tuple)), repr(sorted(kwargs.items())),
           repr(sorted(theon.config._values.items())))
    if key not in _FUNCTIONS:
        _FUNCTIONS[key] = theon.function(inputs, outputs, **kwargs)
    return _FUNCTIONS[key]
