"""Turns run records into the paper's tables (see issue 'reporter'); ships the paper's figures.

python -m senet_ablate.report [results_dir=results] [out=<results_dir>] [exps=a,b] [overrides]
"""

from senet_ablate.report.paper import PAPER_YAML
from senet_ablate.report.tables import write_reports

__all__ = ["PAPER_YAML", "write_reports"]
