"""Reports: figures of a run, the self-contained report page, and the comparison of runs. They read run folders
and write into them only through ``matnet.runfolder`` (figures, the page, and test predictions a run lacks);
a comparison writes only where it is told to."""

from matnet.reports.compare import compare_runs
from matnet.reports.report import Report, write_report

__all__ = ["Report", "compare_runs", "write_report"]
