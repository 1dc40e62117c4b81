"""Source locations: the line of user code that built an op.

The DSL stamps each op it creates with a ``SourceLoc`` (``op.loc``): the
first stack frame outside theon. It travels with the op through cloning,
the passes (``passes/rewrite.py`` gives new ops the location of the op they
replace) and the IR text (``print_function(func, locations=True)`` writes
``loc("file.py":12)`` after an op; the parser reads it back), so run-time
errors (``runtime/errors.py``), NanGuardMode and DEBUG mode name it.
"""
import linecache
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TESTS_DIR = os.path.join(_PACKAGE_DIR, "tests")


class SourceLoc(tuple):
    """(filename, line) of user code."""

    __slots__ = ()

    def __new__(cls, filename, line):
        return super().__new__(cls, (str(filename), int(line)))

    @property
    def filename(self):
        return self[0]

    @property
    def line(self):
        return self[1]

    def source(self):
        """The source line's text, or ''."""
        return linecache.getline(self[0], self[1]).strip()

    def describe(self):
        text = f'File "{self[0]}", line {self[1]}'
        src = self.source()
        return f"{text}\n    {src}" if src else text

    def __reduce__(self):
        return (SourceLoc, tuple(self))

    def __repr__(self):
        return f"SourceLoc({self[0]!r}, {self[1]})"


_theon_files = {}            # filename -> whether it is theon's own code (not its tests)


def _is_theon_file(filename):
    known = _theon_files.get(filename)
    if known is None:
        path = os.path.abspath(filename)
        known = _theon_files[filename] = (path.startswith(_PACKAGE_DIR + os.sep)
                                          and not path.startswith(_TESTS_DIR + os.sep))
    return known


def user_location(skip=1):
    """The SourceLoc of the innermost frame outside theon (its tests count
    as user code), or None."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_theon_file(filename) and not filename.startswith("<frozen"):
            return SourceLoc(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def op_locations(op):
    """The distinct SourceLocs of ``op`` and of the ops inside its regions
    (a fused group), in order."""
    found = []
    if isinstance(op.loc, SourceLoc):
        found.append(op.loc)
    for region in op.regions:
        for inner in region.walk():
            if isinstance(inner.loc, SourceLoc) and inner.loc not in found:
                found.append(inner.loc)
    return found
