"""What a run leaves in `results_dir` and every later stage reads: its record (`store`), its claim
while it runs (`claims`), and the state both say it is in (`status`). The report reads only these,
never the trainer or the data."""
