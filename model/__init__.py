"""The model: what a task is, independent of how it is measured.

``program`` (the workload's async functions, compiled to flat int64 arrays),
``layout`` (the shared byte rules that turn a strategy's answers into frame
sizes and offsets) and ``errors`` (the one exception for bad input). The
model imports nothing from the harness (``bench``) or from ``strategies``;
strategies import only the model; the harness imports both.
"""
