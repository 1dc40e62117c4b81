"""Compilation modes: which passes run, where code runs, what is checked.

    theon.function(..., mode='FAST_RUN')        all passes, native code (default)
    theon.function(..., mode='FAST_COMPILE')    fewer passes, faster LLVM -O1
    theon.function(..., mode='DEBUG')           FAST_RUN, then every op's native
                                                result is checked against its
                                                NumPy reference on every call
    theon.function(..., mode=theon.Mode(optimizer='fast_run', profile=True))
"""
from ..config import config
from .pipeline import resolve_pipeline

DEVICES = ("cpu", "cuda")


class Mode:
    """How to compile and run a function.

    optimizer: 'fast_run', 'fast_compile', None (no passes), a pass
               pipeline 'cse,dce', or a list of pass names
    passes:    same as optimizer (wins when both are given)
    device:    'cpu' or 'cuda'; None means theon.config.device at compile time
    profile:   collect per-op times (``f.profile.summary()``)
    debug:     check every op against its NumPy reference on each call
    opt_level: LLVM optimization level 0..3
    """

    def __init__(self, optimizer="fast_run", device=None, profile=False, debug=False,
                 opt_level=3, passes=None, linker=None):
        if device is not None and device not in DEVICES:
            raise ValueError(f"Mode: device must be one of {DEVICES} or None, got {device!r}")
        if not isinstance(opt_level, int) or not 0 <= opt_level <= 3:
            raise ValueError(f"Mode: opt_level must be an int in 0..3, got {opt_level!r}")
        if optimizer == "None":
            optimizer = None
        self.optimizer = optimizer if passes is None else passes
        self.pipeline = resolve_pipeline(self.optimizer)
        self.device = device
        self.profile = bool(profile)
        self.debug = bool(debug)
        self.opt_level = opt_level
        self.linker = linker        # accepted for Theano compatibility; theon has one linker

    def _replace(self, **changes):
        fields = dict(optimizer=list(self.pipeline), device=self.device, profile=self.profile,
                      debug=self.debug, opt_level=self.opt_level)
        fields.update(changes)
        return Mode(**fields)

    def including(self, *names):
        """A copy whose pipeline also runs ``names`` (at the end)."""
        return self._replace(optimizer=list(self.pipeline) + [n for n in names if n not in self.pipeline])

    def excluding(self, *names):
        """A copy whose pipeline skips ``names``."""
        return self._replace(optimizer=[n for n in self.pipeline if n not in names])

    def resolved_device(self):
        return self.device or config.device

    def __repr__(self):
        return (f"Mode(optimizer={','.join(self.pipeline)!r}, device={self.device!r}, "
                f"profile={self.profile}, debug={self.debug}, opt_level={self.opt_level})")


PREDEFINED = {
    "FAST_RUN": lambda: Mode("fast_run"),
    "FAST_COMPILE": lambda: Mode("fast_compile", opt_level=1),
    "DEBUG": lambda: Mode("fast_run", debug=True),
    "DebugMode": lambda: Mode("fast_run", debug=True),
}


def get_mode(mode):
    """The Mode for ``mode``: None (theon.config.mode), a name, or a Mode."""
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode in PREDEFINED:
        return PREDEFINED[mode]()
    raise ValueError(f"mode must be one of {sorted(k for k in PREDEFINED if k.isupper())}, "
                     f"a theon.Mode, or None, got {mode!r}")
