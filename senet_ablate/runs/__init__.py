"""Runs: one run from config to record (`run`), a sweep of them closed by its table (`sweep`), and
their metric loggers. The stage that puts data, model and engine together."""
