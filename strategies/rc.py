"""futures-0.1 style: no self-references, shared state in Rc<RefCell<_>>.

A function that would borrow its locals across an await keeps them in a
reference-counted cell instead, so every future is movable and stays inline;
each await clones the Rc for the awaited future and drops the clone after.
"""

from .base import Strategy
from .tokio_task import TokioTask


class Rc(TokioTask, Strategy):  # tasks run on tokio (its task cell)
    name = "rc"
    summary = "borrowed locals in reference-counted cells, futures inline"
    origin = "futures 0.1 with Rc<RefCell<_>> instead of borrows"
    color = "#009E73"  # bluish green (Okabe-Ito)
    marker = "^"
    native = "rust"  # bench/validate generates its rust counterpart

    def locals_in_cell(self, program, fn):
        return bool(program.fn_borrows[fn])


STRATEGY = Rc()
