"""pinbench: what does each way of storing async state machines cost?

The code lives in the repository's top-level folders, installed as
subpackages: ``pinbench.bench`` (harness), ``pinbench.strategies`` (policy)
and ``pinbench.cython_core`` (mechanism).
"""

__version__ = "0.1.0"
