"""``textmask-ocr demo``: the paper's recognition experiment (Table IV(b)) in miniature."""

from textmask_ocr.demo.budget import BUDGETS, DemoBudget
from textmask_ocr.demo.pipeline import run_demo

__all__ = ["BUDGETS", "DemoBudget", "run_demo"]
