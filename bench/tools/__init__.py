"""Tools about the harness itself: what it costs against bare PyTorch loops and peer libraries
(`perf`), which faster training steps this machine offers (`speedups`), and whether a change
moved any number of the ci profile against the committed baseline (`regress`). Each is imported
where it is used (`from bench.tools import perf`)."""

__all__ = ["perf", "regress", "speedups"]
