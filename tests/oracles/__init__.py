"""The independent models the tests check pinbench against.

Each derives expected numbers without importing the code under test's
model (model/layout.py, model/native.py, the executor), so a test that
compares them with pinbench's output can fail:

- ``rules.py``: the allocation rules of docs/workloads.md as formulas, per
  built-in workload and strategy (allocations, bytes, polls, moves, ...),
  and what a task holds (Go's stack rules among them);
- ``checksum.py``: a slow evaluator of docs/model.md's value rules, the
  checksum every strategy must reproduce.
"""
