"""The measured sections of tools/benchmark.py, one module each, and how they measure
(``measure``) and report (``report``)."""
