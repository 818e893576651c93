"""Numerical profiling: float vs. fixed per tensor, as data (`data`), metrics (`metrics`) and files (`render`).

`profile_graphs` measures a `Report`; `write_profile` writes its PNG plots (matplotlib, Agg) with Markdown
and HTML summaries, `write_calibration` its calibration.json / calibration.md into a project.
"""

from nn2fpga.profile.data import Report, TensorProfile, profile_graphs
from nn2fpga.profile.metrics import average_ranks, roc_auc_ovr
from nn2fpga.profile.render import html, markdown, plot_errors, plot_ranges, write_calibration, write_profile

__all__ = ["Report", "TensorProfile", "average_ranks", "html", "markdown", "plot_errors", "plot_ranges",
           "profile_graphs", "roc_auc_ovr", "write_calibration", "write_profile"]  # fmt: skip
