"""The on-disk cache of compiled code: ``theon.config.cache_dir``.

    ~/.cache/theon (or THEON_CACHE_DIR, or theon.config.cache_dir; '' turns it off)
        <key>.ir     IR after the passes, for a hash of the IR before them
        <key>.obj    native object code, for a hash of the optimized IR
        <key>.wrap   the CPython fast-path wrapper of one call signature
        <key>.rt     the runtime library (codegen/cpu/rtlib)
        <key>.ptx    PTX text of a GPU plan's kernels (runtime/cuda.compiled_ptx)

A key is a hash of everything the stored bytes depend on: the IR text, the
pass list or the codegen options, the target (triple, CPU, features), and
the ``fingerprint`` of this installation (theon's version and sources,
Python, NumPy and llvmlite/LLVM versions). A new process compiling the same
graph finds the same key and skips the passes, or the passes and LLVM.

An entry is one file named ``<64 hex digits>.<kind>``: MAGIC, a SHA-256
digest, the payload's length, its header's length, the entry's *binding*
(SHA-256 of its kind and key), then the payload (a JSON header and a
binary blob). The digest covers the binding and the payload, so an entry
is valid only under its own name: a valid entry copied or renamed over
another reads as a miss. A missing, short, foreign, corrupt or misnamed
file reads as a miss and is rewritten by the next store. Stores write a
temporary file (``.theon-tmp-*``) in the same folder and rename it into
place, so concurrent readers and writers never see a partial entry. Any
OSError (read-only folder, full disk) makes the cache a no-op, never an
error.

Trust. The folder is created 0700. A folder or an entry that another
user owns, or that group or others may write, is refused with a
``CacheWarning`` (the whole cache is off for a bad folder, the entry is a
miss for a bad entry), as ssh and pip refuse such files. Object code is
checked before it is loaded (``check_object``: an ELF relocatable object
of this machine, consistent tables, the expected functions defined), and
callers treat any failure to load an entry as a miss.

Pruning (every PRUNE_EVERY stores) deletes only files it can prove it
wrote: a name of the entry pattern, this user's, starting with MAGIC and
bound to its own name; and temporary files of the temporary-name pattern
older than STALE_TMP_SECONDS whose bytes are empty or start with MAGIC.
Nothing else in the folder is touched, counted or read beyond its head.
"""
import hashlib
import json
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import time
import warnings

MAGIC = b"THEONC02"
_HEAD = struct.Struct("<8s32sQI32s")    # magic, sha256(binding + payload), payload length, header length, binding
KINDS = ("ir", "obj", "wrap", "rt", "ptx")
ENTRY_NAME = re.compile(r"\A([0-9a-f]{64})\.(ir|obj|wrap|rt|ptx)\Z")
TMP_PREFIX = ".theon-tmp-"
TMP_NAME = re.compile(r"\A\.theon-tmp-[A-Za-z0-9_]{1,32}\Z")
STALE_TMP_SECONDS = 600                 # a temporary file this old belongs to a dead writer
MAX_CONSTANT_ELEMENTS = 4096            # larger constants make printing the IR (the key) too slow
PRUNE_EVERY = 256                       # stores between two size checks
MAX_BYTES = 1 << 30                     # prune the oldest entries above this total size

_fingerprint = None
_stores = 0
_warned = set()
_warn_lock = threading.Lock()


class CacheWarning(UserWarning):
    """The cache folder or an entry in it is not trusted and is not used."""


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
    key) would cost more than compiling; such functions are not cached.
    (A splat constant prints as its one element.)"""
    from ..ir.core import stored_elements
    total = 0
    for op in func.walk():                  # constants inside region bodies count too
        value = op.attrs.get("value") if op.name == "constant" else None
        if value is not None:
            total += getattr(stored_elements(value), "size", 1)
            if total > MAX_CONSTANT_ELEMENTS:
                return False
    return True


# --- trust ---------------------------------------------------------------------------------
def _uid():
    """This process's effective user id (None where there are no users)."""
    return os.geteuid() if hasattr(os, "geteuid") else None


def distrust(st):
    """Why a file or folder with stat result ``st`` is not to be trusted
    (another user owns it, or group/others may write it), or None."""
    uid = _uid()
    if uid is None:
        return None
    if st.st_uid != uid:
        return f"it belongs to user id {st.st_uid}, not to this user (id {uid})"
    if st.st_mode & 0o022:
        return f"group or others may write it (mode {stat.filemode(st.st_mode)})"
    return None


def _warn(path, message):
    with _warn_lock:
        if path in _warned:
            return
        _warned.add(path)
    warnings.warn(message, CacheWarning, stacklevel=3)


def cache_dir():
    """The cache folder from ``theon.config.cache_dir``, or None when off."""
    from ..config import config
    path = config.cache_dir
    return os.path.expanduser(path) if path else None


def trusted_dir(create=False):
    """The cache folder when it is on, exists (``create``: made 0700 when
    missing) and is trusted; else None (after a CacheWarning if it is not
    trusted)."""
    path = cache_dir()
    if path is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
            st = os.stat(path)
        except OSError:
            return None
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    why = distrust(st)
    if why is not None:
        _warn(path, f"theon: not using the compile cache folder {path!r}: {why}. Compiling without "
                    f"a cache; make the folder yours and private (chmod 700) or set THEON_CACHE_DIR "
                    f"to another folder.")
        return None
    return path


def _binding(kind, key):
    return hashlib.sha256(f"theon-cache-entry:{kind}:{key}".encode()).digest()


def _entry_name(kind, key):
    name = f"{key}.{kind}"
    if not ENTRY_NAME.match(name):
        raise ValueError(f"cache: bad entry name {name!r}: the kind must be one of {KINDS} and the key "
                         f"64 lowercase hex digits (make_key)")
    return name


# --- the store -----------------------------------------------------------------------------
def encode(kind, key, header, blob=b""):
    """The bytes of the entry ``kind``/``key`` holding ``header`` (a JSON
    dict) and ``blob``."""
    _entry_name(kind, key)
    head = json.dumps(header, sort_keys=True).encode()
    payload = head + bytes(blob)
    binding = _binding(kind, key)
    digest = hashlib.sha256(binding + payload).digest()
    return _HEAD.pack(MAGIC, digest, len(payload), len(head), binding) + payload


def decode(data, kind, key):
    """(header, blob) from an entry's bytes, or None if they are not a
    whole, uncorrupted entry of ``kind``/``key``."""
    if len(data) < _HEAD.size:
        return None
    magic, digest, length, head_len, binding = _HEAD.unpack_from(data)
    payload = memoryview(data)[_HEAD.size:]
    if magic != MAGIC or length != len(payload) or head_len > length or binding != _binding(kind, key):
        return None
    h = hashlib.sha256(binding)
    h.update(payload)
    if h.digest() != digest:
        return None
    try:
        header = json.loads(bytes(payload[:head_len]).decode())
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    return header, bytes(payload[head_len:])


def _open_own(path):
    """A binary file object of ``path`` if it is a regular file (not a
    link) this user owns and others cannot write, else None (after a
    CacheWarning when it is untrusted)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        why = distrust(st)
        if why is not None:
            os.close(fd)
            _warn(path, f"theon: ignoring compile cache entry {path!r}: {why}")
            return None
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None


def load(kind, key):
    """(header dict, blob bytes) of a valid, trusted entry, else None."""
    root = trusted_dir()
    if root is None:
        return None
    fh = _open_own(os.path.join(root, _entry_name(kind, key)))
    if fh is None:
        return None
    try:
        with fh:
            data = fh.read()
    except OSError:
        return None
    return decode(data, kind, key)


MAX_PARTS = 4096                        # objects one entry may hold


def load_code(kind, key, symbols):
    """(header, code) of a valid entry whose code is object files of this
    machine (``check_object``, each) defining the functions ``symbols``,
    else None. ``code`` is the object's bytes, or, for an entry stored from
    a list of objects (``store_code``), a list of each one's bytes; every
    symbol is then defined by one of them. The caller must still treat a
    failure to load it as a miss."""
    hit = load(kind, key)
    if hit is None:
        return None
    header, blob = hit
    if "parts" not in header:
        return hit if check_object(blob, symbols) is None else None
    objects = _split_parts(blob, header["parts"])
    if objects is None or any(check_object(obj) is not None for obj in objects):
        return None
    for symbol in symbols:
        if not any(check_object(obj, [symbol]) is None for obj in objects):
            return None
    return header, objects


def store_code(kind, key, header, code):
    """Store ``code``: one object's bytes, or a list of objects that are
    loaded together (their sizes go in the header's ``parts``, the blob is
    their concatenation). Returns True when it was written."""
    if isinstance(code, (list, tuple)):
        objects = [bytes(obj) for obj in code]
        return store(kind, key, dict(header, parts=[len(obj) for obj in objects]), b"".join(objects))
    return store(kind, key, header, code)


def _split_parts(blob, parts):
    """The objects of a multi-object blob, or None when ``parts`` (their
    sizes) does not describe it exactly."""
    if (not isinstance(parts, list) or not 0 < len(parts) <= MAX_PARTS
            or not all(type(n) is int and n > 0 for n in parts) or sum(parts) != len(blob)):
        return None
    objects, start = [], 0
    for n in parts:
        objects.append(blob[start:start + n])
        start += n
    return objects


def store(kind, key, header, blob=b""):
    """Write an entry atomically; returns True when it was written."""
    global _stores
    name = _entry_name(kind, key)
    root = trusted_dir(create=True)
    if root is None:
        return False
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=root)       # mode 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(encode(kind, key, header, blob))
        os.replace(tmp, os.path.join(root, name))
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
        prune(root)
    return True


def _own_entry(path, kind, key):
    """True if ``path`` provably is an entry this cache wrote for kind/key."""
    fh = _open_own(path)
    if fh is None:
        return False
    try:
        with fh:
            head = fh.read(_HEAD.size)
    except OSError:
        return False
    if len(head) < _HEAD.size:
        return False
    magic, _, _, _, binding = _HEAD.unpack(head)
    return magic == MAGIC and binding == _binding(kind, key)


def _own_temporary(path):
    """True if ``path`` (a name of the temporary pattern) holds nothing or
    the start of an entry: a store that never finished."""
    fh = _open_own(path)
    if fh is None:
        return False
    try:
        with fh:
            head = fh.read(len(MAGIC))
    except OSError:
        return False
    return MAGIC.startswith(head)


def prune(folder=None, max_bytes=MAX_BYTES):
    """Delete the least recently written entries until this cache's entries
    in the folder take at most ``max_bytes``, and temporary files of
    stores that died. Only files provably written by this cache are
    counted or deleted (module docstring); a folder that is not trusted is
    left alone."""
    folder = folder or cache_dir()
    if not folder:
        return
    try:
        st = os.stat(folder)
        if not stat.S_ISDIR(st.st_mode) or distrust(st) is not None:
            return
        entries = []
        now = time.time()
        with os.scandir(folder) as it:
            for e in it:
                m = ENTRY_NAME.match(e.name)
                tmp = m is None and TMP_NAME.match(e.name) is not None
                if m is None and not tmp:
                    continue
                est = e.stat(follow_symlinks=False)
                if not stat.S_ISREG(est.st_mode) or distrust(est) is not None:
                    continue
                if tmp:
                    if now - est.st_mtime > STALE_TMP_SECONDS and _own_temporary(e.path):
                        _unlink(e.path)
                elif _own_entry(e.path, m.group(2), m.group(1)):
                    entries.append((est.st_mtime, est.st_size, e.path))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        if _unlink(path):
            total -= size


def _unlink(path):
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


# --- object code -----------------------------------------------------------------------------
# What LLVM's loader (RuntimeDyld) trusts blindly in an ELF object: section
# offsets and sizes, table links, symbol and relocation indices and
# offsets. check_object verifies them, so bytes that are not a well-formed
# relocatable object of this machine (truncated, overwritten, another
# architecture's, a payload that is not an object at all) are refused
# before LLVM reads them. It cannot prove the machine code itself right:
# that is what the checksum and the key binding are for.
_ELF_HEAD = struct.Struct("<16sHHIQQQIHHHHHH")
_ELF_SECTION = struct.Struct("<IIQQQQIIQQ")
_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "ppc64le": 21, "s390x": 22,
                 "riscv64": 243}
_SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL, _SHT_SYMTAB_SHNDX = 2, 3, 4, 8, 9, 18
_SHF_EXECINSTR = 0x4
_SHF_KNOWN = 0x1 | 0x2 | 0x4 | 0x10 | 0x20 | 0x40 | 0x80 | 0x200 | 0x10000000   # no TLS, no compression
_STT_KNOWN = (0, 1, 2, 3, 4)            # no common, TLS or indirect-function symbols
MAX_NOBITS = 1 << 28                    # zero-filled sections (globals) larger than this are refused
_X86_64_MAX_RELOC = 43


def _host_machine():
    import platform
    return _ELF_MACHINES.get(platform.machine().lower())


def check_object(data, symbols=()):
    """Why ``data`` is not a well-formed ELF relocatable object of this
    machine defining each function in ``symbols`` (global, in an
    executable section), or None when it is. Off ELF platforms only the
    bytes' presence is checked (LLVM's loader is the check there)."""
    import numpy as np
    data = bytes(data)
    if sys.platform in ("darwin", "win32") or _host_machine() is None:
        return None if data else "empty object"
    if len(data) < _ELF_HEAD.size or data[:4] != b"\x7fELF":
        return "not an ELF file"
    (ident, e_type, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum,
     shstrndx) = _ELF_HEAD.unpack_from(data)
    if ident[4] != 2 or ident[5] != 1 or ident[6] != 1:
        return "not a 64-bit little-endian ELF file"
    if e_type != 1:
        return "not a relocatable object"
    if machine != _host_machine():
        return f"ELF machine {machine}, not this machine's {_host_machine()}"
    if shentsize != _ELF_SECTION.size or shoff == 0 or shoff > len(data):
        return "bad section header table"
    if shnum == 0 and shoff + _ELF_SECTION.size <= len(data):     # extended numbering
        shnum = _ELF_SECTION.unpack_from(data, shoff)[5]
    if shstrndx == 0xFFFF and shoff + _ELF_SECTION.size <= len(data):
        shstrndx = _ELF_SECTION.unpack_from(data, shoff)[6]
    if shnum == 0 or shoff + shnum * _ELF_SECTION.size > len(data) or shstrndx >= shnum:
        return "section header table outside the file"
    sections = [_ELF_SECTION.unpack_from(data, shoff + k * _ELF_SECTION.size) for k in range(shnum)]
    for k, (_, sh_type, flags, _, offset, size, link, _, align, _) in enumerate(sections):
        if k and sh_type != _SHT_NOBITS and offset + size > len(data):
            return f"section {k} outside the file"
        if flags & ~_SHF_KNOWN or align & (align - 1) or align > 4096:
            return f"section {k} has unsupported flags or alignment"
        if sh_type == _SHT_NOBITS and size > MAX_NOBITS:
            return f"section {k} is too large"
        if sh_type in (_SHT_SYMTAB, _SHT_RELA, _SHT_REL, _SHT_SYMTAB_SHNDX) and not 0 < link < shnum:
            return f"section {k} links to a section that does not exist"
    shstr = sections[shstrndx]
    if shstr[1] != _SHT_STRTAB:
        return "no section name table"
    if any(s[0] >= max(shstr[5], 1) for s in sections[1:]):
        return "a section name outside the name table"
    symtabs = [k for k, s in enumerate(sections) if s[1] == _SHT_SYMTAB]
    if len(symtabs) != 1:
        return "not exactly one symbol table"
    sym_index = symtabs[0]
    _, _, _, _, offset, size, link, _, _, entsize = sections[sym_index]
    strtab = sections[link]
    if entsize != 24 or size % 24 or strtab[1] != _SHT_STRTAB:
        return "bad symbol table"
    str_off, str_size = strtab[4], strtab[5]
    if str_size == 0 or data[str_off + str_size - 1] != 0:
        return "bad symbol name table"
    sym_dtype = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                          ("value", "<u8"), ("size", "<u8")])
    syms = np.frombuffer(data, sym_dtype, count=size // 24, offset=offset)
    if np.any(syms["name"] >= str_size):
        return "a symbol name outside the name table"
    if not np.all(np.isin(syms["info"] & 0xF, _STT_KNOWN)) or np.any(syms["info"] >> 4 > 2):
        return "a symbol of an unsupported type or binding"
    shndx = syms["shndx"].astype(np.int64)
    has_xindex = any(s[1] == _SHT_SYMTAB_SHNDX for s in sections)
    special = (shndx == 0) | (shndx == 0xFFF1) | (shndx == 0xFFF2) | ((shndx == 0xFFFF) & has_xindex)
    if np.any(~special & (shndx >= shnum)):
        return "a symbol in a section that does not exist"
    regular = ~special
    sec_sizes = np.array([s[5] for s in sections], dtype=np.uint64)
    if np.any(syms["value"][regular] > sec_sizes[shndx[regular]]):
        return "a symbol outside its section"
    n_syms = len(syms)
    for k, (_, sh_type, _, _, offset, size, link, info, _, entsize) in enumerate(sections):
        if sh_type not in (_SHT_RELA, _SHT_REL):
            continue
        width = 24 if sh_type == _SHT_RELA else 16
        if entsize != width or size % width or link != sym_index or not 0 < info < shnum:
            return f"bad relocation section {k}"
        relocs = np.frombuffer(data, np.dtype("<u8"), count=size // 8, offset=offset).reshape(-1, width // 8)
        target_size = sections[info][5]
        if np.any(relocs[:, 0] >= target_size):
            return f"a relocation outside its section (section {k})"
        if np.any((relocs[:, 1] >> np.uint64(32)) >= n_syms):
            return f"a relocation of a symbol that does not exist (section {k})"
        if machine == 62 and np.any((relocs[:, 1] & np.uint64(0xFFFFFFFF)) > _X86_64_MAX_RELOC):
            return f"an unknown relocation type (section {k})"
    names = {}
    for want in symbols:
        names[want.encode() + b"\0"] = want
    for sym in syms:
        if not names:
            break
        start = str_off + int(sym["name"])
        end = data.find(b"\0", start, str_off + str_size)
        want = names.get(data[start:end + 1])
        if want is None:
            continue
        bind, typ, ndx = sym["info"] >> 4, sym["info"] & 0xF, int(sym["shndx"])
        if bind not in (1, 2) or typ != 2 or not 0 < ndx < shnum or not sections[ndx][2] & _SHF_EXECINSTR:
            return f"{want!r} is not a function defined in the object"
        if int(sym["value"]) + int(sym["size"]) > sections[ndx][5]:
            return f"{want!r} extends past its section"
        del names[data[start:end + 1]]
    if names:
        return f"the object does not define {sorted(names.values())}"
    return None


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
    from ..ir.printer import drop_clashing_names, print_function
    if cache_dir() is None or not cacheable(func):
        return run_passes(func, names)
    key = make_key("ir", print_function(func, locations=True), ",".join(names))
    hit = load("ir", key)
    if hit is not None:
        try:
            text = hit[1].decode()
            parsed = parse_function(text)
            if print_function(parsed, locations=True) == text:   # source locations kept
                return _restore_args(parsed, func)
        except Exception:  # noqa: BLE001 - a bad entry is a miss; it is rewritten below
            pass
    # the names a cache hit would print differently go, so a hit and this
    # compile hash to the same object key (one object per graph, not two)
    result = drop_clashing_names(run_passes(func, names))
    try:
        store("ir", key, {"kind": "ir", "name": result.name}, print_function(result, locations=True).encode())
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
