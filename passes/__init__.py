"""Passes over the IR and the pass manager.

``PASSES`` is the registry: command-line name -> pass class. Adding a pass
means adding it here (nothing registers itself on import).
"""
from .canonicalize import Canonicalize
from .conv_epilogue import ConvEpilogue
from .conv_pool import ConvPoolFusion
from .cse import CSE
from .dce import DCE
from .fold import ConstantFold
from .gemm_epilogue import GemmEpilogue
from .fusion import FuseElementwise, SplitFusedStages
from .legalize_f16 import LegalizeF16
from .region_reuse import RegionReuse
from .scan_batch import ScanBatch
from .scan_hoist import ScanHoist
from .scan_merge import ScanMerge
from .scan_prune import ScanPrune
from .scan_ring import ScanRing
from .manager import Pass, PassManager, format_pipeline, parse_pipeline, run_pipeline  # noqa: F401
from .shapes import SimplifyShapes
from .stabilize import Stabilize

PASSES = {
    "canonicalize": Canonicalize,
    "constant-fold": ConstantFold,
    "simplify-shapes": SimplifyShapes,
    "stabilize": Stabilize,
    "cse": CSE,
    "region-reuse": RegionReuse,
    "scan-prune": ScanPrune,
    "scan-ring": ScanRing,
    "scan-hoist": ScanHoist,
    "scan-batch": ScanBatch,
    "scan-merge": ScanMerge,
    "dce": DCE,
    "conv-epilogue": ConvEpilogue,
    "conv-pool": ConvPoolFusion,
    "gemm-epilogue": GemmEpilogue,
    "fuse-elementwise": FuseElementwise,
    "split-fused-stages": SplitFusedStages,
    "legalize-f16": LegalizeF16,
}
