"""The on-disk cache of compiled code: ``theon.config.cache_dir``.

    ~/.cache/theon (or THEON_CACHE_DIR, or theon.config.cache_dir; '' turns it off)
        <key>.ir     IR after the passes, for a hash of the IR before them
        <key>.obj    native object code, for a hash of the optimized IR
        <key>.wrap   the CPython fast-path wrapper of one call signature

A key is a hash of everything the stored bytes depend on: the IR text, the
pass list or the codegen options, the target (triple, CPU, features), and
the ``fingerprint`` of this installation (theon's version and sources,
Python, NumPy and llvmlite/LLVM versions). A new process compiling the same
graph finds the same key and skips the passes, or the passes and LLVM.

An entry is one file: MAGIC, a SHA-256 digest of the payload, its length,
then the payload (a JSON header and a binary blob). A missing, short,
foreign or corrupt file reads as a miss and is rewritten by the next store.
Stores write a temporary file in the same folder and rename it into place,
so concurrent readers and writers never see a partial entry. Any OSError
(read-only folder, full disk) makes the cache a no-op, never an error.
"""
import hashlib
import json
import os
import struct
import sys
import tempfile

MAGIC = b"THEONC01"
_HEAD = struct.Struct("<8s32sQI")       # magic, sha256(payload), payload length, header length
MAX_CONSTANT_ELEMENTS = 4096            # larger constants make printing the IR (the key) too slow
PRUNE_EVERY = 256                       # stores between two size checks
MAX_BYTES = 1 << 30                     # prune the oldest entries above this total size

_fingerprint = None
_stores = 0


# --- keys ----------------------------------------------------------------------------------
def fingerprint():
    """A hash of what, besides its key text, decides a cached entry: theon's
    version and source files (path, size, mtime), Python, NumPy, llvmlite
    and LLVM. Computed once per process."""
    global _fingerprint
    if _fingerprint is None:
        import llvmlite
        import llvmlite.binding as llvm
        import numpy

        from .. import __version__
        h = hashlib.sha256()
        h.update(repr((__version__, sys.version, sys.platform, numpy.__version__, llvmlite.__version__,
                       tuple(llvm.llvm_version_info))).encode())
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for path in _source_files(root):
            try:
                st = os.stat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        _fingerprint = h.hexdigest()
    return _fingerprint


_SKIP_DIRS = {"tests", "bench", "examples", "docs", "__pycache__", ".git", ".ci"}


def _source_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    return out


def make_key(kind, *parts):
    """The hex key of an entry of ``kind`` ('ir', 'obj', ...) for ``parts``
    (strings or reprs), salted with the installation ``fingerprint``."""
    h = hashlib.sha256()
    h.update(kind.encode())
    h.update(b"\0")
    h.update(fingerprint().encode())
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def cacheable(func):
    """False when ``func`` holds constants so large that printing it (the
    key) would cost more than compiling; such functions are not cached."""
    total = 0
    for op in func.body.ops:
        value = op.attrs.get("value") if op.name == "constant" else None
        if value is not None:
            total += getattr(value, "size", 1)
            if total > MAX_CONSTANT_ELEMENTS:
                return False
    return True


# --- the store -----------------------------------------------------------------------------
def cache_dir():
    """The cache folder from ``theon.config.cache_dir``, or None when off."""
    from ..config import config
    path = config.cache_dir
    return os.path.expanduser(path) if path else None


def _path(kind, key):
    root = cache_dir()
    return None if root is None else os.path.join(root, f"{key}.{kind}")


def load(kind, key):
    """(header dict, blob bytes) of a valid entry, else None."""
    path = _path(kind, key)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return decode(data)


def decode(data):
    """(header, blob) from an entry's bytes, or None if they are not a
    whole, uncorrupted entry."""
    if len(data) < _HEAD.size:
        return None
    magic, digest, length, head_len = _HEAD.unpack_from(data)
    payload = data[_HEAD.size:]
    if magic != MAGIC or length != len(payload) or head_len > length:
        return None
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        header = json.loads(payload[:head_len].decode())
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    return header, payload[head_len:]


def encode(header, blob=b""):
    head = json.dumps(header, sort_keys=True).encode()
    payload = head + bytes(blob)
    return _HEAD.pack(MAGIC, hashlib.sha256(payload).digest(), len(payload), len(head)) + payload


def store(kind, key, header, blob=b""):
    """Write an entry atomically; returns True when it was written."""
    global _stores
    path = _path(kind, key)
    if path is None:
        return False
    folder = os.path.dirname(path)
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(encode(header, blob))
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _stores += 1
    if _stores % PRUNE_EVERY == 0:
        prune(folder)
    return True


def prune(folder=None, max_bytes=MAX_BYTES):
    """Delete the least recently written entries until the folder holds at
    most ``max_bytes``; stale temporary files go too."""
    folder = folder or cache_dir()
    if not folder:
        return
    try:
        entries = []
        for e in os.scandir(folder):
            if not e.is_file():
                continue
            st = e.stat()
            entries.append((st.st_mtime, st.st_size, e.path, e.name.startswith(".tmp-")))
    except OSError:
        return
    total = sum(size for _, size, _, _ in entries)
    for mtime, size, path, tmp in sorted(entries):
        if total <= max_bytes and not tmp:
            continue
        try:
            os.unlink(path)
            total -= size
        except OSError:
            pass


# --- the IR after the passes ---------------------------------------------------------------
def optimize_cached(func, names, run_passes):
    """``run_passes(func, names)``, or its result from the cache.

    The key is the IR text before the passes plus the pass names; the entry
    holds the IR text after them, which is parsed back (with the original
    argument names and attributes). A hit whose parse does not print back
    to the stored text is a miss: a function that does not survive a
    print/parse round trip is never taken from the cache. (The check is
    made when loading, where the parse is needed anyway, so that storing
    costs a compile no parse.)
    """
    from ..ir.parser import parse_function
    from ..ir.printer import print_function
    if cache_dir() is None or not cacheable(func):
        return run_passes(func, names)
    key = make_key("ir", print_function(func), ",".join(names))
    hit = load("ir", key)
    if hit is not None:
        try:
            text = hit[1].decode()
            parsed = parse_function(text)
            if print_function(parsed) == text:
                return _restore_args(parsed, func)
        except Exception:  # noqa: BLE001 - a bad entry is a miss; it is rewritten below
            pass
    result = run_passes(func, names)
    try:
        store("ir", key, {"kind": "ir", "name": result.name}, print_function(result).encode())
    except Exception:  # noqa: BLE001 - never fail a compile because of the cache
        pass
    return result


def _restore_args(parsed, original):
    """The parser names arguments from their text; keep the user's names."""
    if len(parsed.args) != len(original.args):
        raise ValueError("cached IR has a different signature")
    for a, b in zip(parsed.args, original.args):
        if a.type != b.type:
            raise ValueError("cached IR has a different signature")
        a.name = b.name
    for k, attrs in enumerate(original.arg_attrs):
        parsed.arg_attrs[k] = dict(attrs)
    return parsed
