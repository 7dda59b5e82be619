"""`python -m pinbench.bench.validate ARGS`: `pinbench validate ARGS` on its own."""

import sys

from ..commands.validate import main

sys.exit(main())
