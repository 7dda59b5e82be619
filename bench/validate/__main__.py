"""`python -m pinbench.bench.validate ARGS`: `pinbench validate ARGS` on its own."""

import sys

from . import main

sys.exit(main())
