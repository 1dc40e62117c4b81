"""theon.config: global settings, read once from THEON_FLAGS at import.

Only the edge of the system reads these (the DSL's default dtype, the
default device for theon.function); passes and codegen get explicit options.
"""
import os
import re

_VALID = {
    "floatX": ("float64", "float32", "float16"),
    "device": ("cpu", "cuda"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DEBUG", "DebugMode", "DEBUG_MODE", "Mode", "NanGuardMode"),
    "optimizer": ("fast_run", "fast_compile", "merge", "None", "o1", "o2", "o3", "o4", "unsafe",
                  "stabilize"),
    "compute_test_value": ("off", "ignore", "warn", "raise", "pdb"),
    "compute_test_value_opt": ("off", "ignore", "warn", "raise", "pdb"),
    "exception_verbosity": ("low", "high"),
    "on_unused_input": ("raise", "warn", "ignore"),
}
# options read as booleans (THEON_FLAGS gives them as text)
_BOOL = ("print_test_value", "allow_gc", "profile", "optimizer_verbose", "openmp", "gpu_sync_check",
         "gpu_allow_tf32", "gpu_graphs")


class Config:
    # The options live in the instance __dict__, so reading one is a plain
    # attribute lookup (~0.03 us, not ~1 us through __getattr__): the DSL
    # reads floatX and compute_test_value for every op it builds.
    def __init__(self):
        self.__dict__.update({
            "floatX": "float64",
            "device": "cpu",
            "mode": "FAST_RUN",
            "cache_dir": os.path.join(os.path.expanduser("~"), ".cache", "theon"),
            # Theano's options that theon programs set (runtime/mode.py, frontend/debug.py)
            "optimizer": "fast_run",
            "optimizer_including": "",
            "optimizer_excluding": "",
            "optimizer_requiring": "",
            "compute_test_value": "off",
            "compute_test_value_opt": "off",
            "print_test_value": False,
            "exception_verbosity": "low",
            "on_unused_input": "raise",
            "linker": "cvm",                # accepted: theon has one linker
            "allow_gc": True,               # accepted: native code frees as it goes
            "profile": False,
            "optimizer_verbose": False,
            "openmp": False,                # accepted: theon's loops use its own thread pool
            # synchronize after every GPU launch, naming a failing kernel (THEON_GPU_SYNC_CHECK=1)
            "gpu_sync_check": os.environ.get("THEON_GPU_SYNC_CHECK", "") not in ("", "0"),
            # float32 matrix products on TF32 tensor cores (THEON_GPU_TF32=1; off as in PyTorch)
            "gpu_allow_tf32": os.environ.get("THEON_GPU_TF32", "") not in ("", "0"),
            # replay recorded launch plans as CUDA graphs (THEON_GPU_GRAPHS=0: plain launches)
            "gpu_graphs": os.environ.get("THEON_GPU_GRAPHS", "1") not in ("", "0"),
        })

    @property
    def _values(self):
        return self.__dict__

    def __getattr__(self, name):        # reached only for names that are not options
        raise AttributeError(f"theon.config has no option {name!r}; known: {sorted(self._values)}")

    def __setattr__(self, name, value):
        if name not in self._values:
            raise AttributeError(f"theon.config has no option {name!r}; "
                                 f"known: {sorted(self._values)}")
        if name in _BOOL and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"theon.config.{name} must be True or False, got {value!r}")
            value = value.lower() in ("true", "1")
        if name == "optimizer" and value is None:
            value = "None"
        if name == "device" and isinstance(value, str) and re.fullmatch(r"cuda:\d+", value):
            pass                        # GPU N
        elif name in _VALID and value not in _VALID[name]:
            raise ValueError(f"theon.config.{name} must be one of {_VALID[name]}, got {value!r}")
        self._values[name] = value

    def parse_flags(self, text):
        """Apply 'a=b,c=d' as in THEON_FLAGS."""
        for item in filter(None, (s.strip() for s in text.split(","))):
            if "=" not in item:
                raise ValueError(f"THEON_FLAGS entry {item!r} is not of the form name=value")
            key, val = (s.strip() for s in item.split("=", 1))
            setattr(self, key, val)


config = Config()
if os.environ.get("THEON_CACHE_DIR"):
    config.cache_dir = os.environ["THEON_CACHE_DIR"]
config.parse_flags(os.environ.get("THEON_FLAGS", ""))   # THEON_FLAGS wins
