"""Training: optimiser and schedule, checkpoints, the epoch loop, multi-process set-up."""
