"""Training: optimiser and schedule, checkpoints, the epoch loop."""
