"""Reports: figures of a run, the self-contained report page, and the comparison of runs. Reads run folders only."""

from matnet.reports.compare import compare_runs
from matnet.reports.report import write_report
from matnet.reports.rundata import RunData, load_run

__all__ = ["RunData", "compare_runs", "load_run", "write_report"]
