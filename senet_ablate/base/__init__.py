"""The base every stage stands on, importing nothing else of ours: the one error type, atomic
files, the process group, the stop signals, what the metrics mean, the per-image predictions file
and what every command line shares."""
