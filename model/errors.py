"""The one exception type for bad input.

Anything the user can get wrong (names, parameter values, workload files,
result folders) raises ``UsageError`` with one line that names the problem and
the fix; the CLI prints it and exits with status 2, never a traceback.
"""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""
