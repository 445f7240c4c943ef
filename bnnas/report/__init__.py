"""Reports over run folders: one table row per trained network (accuracy, costs, search and
train time, the command that made it), mean ± std over seeds, plots, as Markdown and as one
self-contained HTML page (``bnnas report``).

    from bnnas.report import collect_report, write_report
    write_report(collect_report(["runs/compare"], title="Fashion-MNIST"), "docs/results")
"""

from bnnas.report.aggregate import Summary, aggregate, pareto_optimal
from bnnas.report.build import write_report
from bnnas.report.document import Report, collect_report
from bnnas.report.literature import load_literature
from bnnas.report.rows import Row, row_from_train_run

__all__ = [
    "Report",
    "Row",
    "Summary",
    "aggregate",
    "collect_report",
    "load_literature",
    "pareto_optimal",
    "row_from_train_run",
    "write_report",
]
