"""The training engine: inputs and caches, the optimisation loop, checkpoints."""
