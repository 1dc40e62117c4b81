"""GPU tier: PTX generation, the PTX emulator, the CUDA driver and GPU execution."""
