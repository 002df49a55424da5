"""Turns run records into the paper's tables (see issue 'reporter'); ships the paper's figures."""

from pathlib import Path

PAPER_YAML = Path(__file__).with_name("paper.yaml")
