"""CPU op lowering: theon IR ops to LLVM IR, one table keyed by op
(``lowering.LOWERINGS``); ``entry.lower_block`` lowers a block's ops, so
region ops lower their bodies with it. Imports ``cpu/rtlib`` (declarations
of the runtime library), never ``cpu/driver``."""
