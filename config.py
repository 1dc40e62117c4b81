"""theon.config: global settings, read once from THEON_FLAGS at import.

Only the edge of the system reads these (the DSL's default dtype, the
default device for theon.function); passes and codegen get explicit options.
"""
import os

_VALID = {
    "floatX": ("float64", "float32"),
    "device": ("cpu", "cuda"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DEBUG"),
}


class Config:
    def __init__(self):
        object.__setattr__(self, "_values", {
            "floatX": "float64",
            "device": "cpu",
            "mode": "FAST_RUN",
            "cache_dir": os.path.join(os.path.expanduser("~"), ".cache", "theon"),
        })

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"theon.config has no option {name!r}; "
                                 f"known: {sorted(self._values)}") from None

    def __setattr__(self, name, value):
        if name not in self._values:
            raise AttributeError(f"theon.config has no option {name!r}; "
                                 f"known: {sorted(self._values)}")
        if name in _VALID and value not in _VALID[name]:
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
