"""Passes over the IR and the pass manager.

``PASSES`` is the registry: command-line name -> pass class. Adding a pass
means adding it here (nothing registers itself on import).
"""
from .cse import CSE
from .dce import DCE
from .manager import Pass, PassManager, format_pipeline, parse_pipeline, run_pipeline  # noqa: F401

PASSES = {
    "cse": CSE,
    "dce": DCE,
}
