"""Grading data: the tables that say which algorithms, versions and keys are weak.

Judgements live in TOML tables under ``tables/`` (architecture.md §5.8), each with a
``[meta]`` block naming its sources; ``tables.load_table`` validates and freezes them.
Nothing here does I/O beyond reading those package files.
"""

from porthole.grading.tables import GradingTable, Reason, TableMeta, Verdict, load_table

__all__ = ["GradingTable", "Reason", "TableMeta", "Verdict", "load_table"]
