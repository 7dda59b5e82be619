"""Pin/PinBox as Rust shipped: the whole task in one perfectly sized block.

Every nested async fn is laid out inline in its parent, so a task is a single
allocation of the root future's size; only recursive edges need Box::pin.
"""

from .base import Strategy
from .tokio_task import TokioTask


class PinBox(TokioTask, Strategy):  # tasks run on tokio (its task cell)
    name = "pinbox"
    summary = "the whole task inline in one allocation"
    origin = "Rust's Pin<Box<dyn Future>> (async fn, std::pin)"
    color = "#0072B2"  # blue (Okabe-Ito)
    marker = "D"
    native = "rust"  # bench/validate generates its rust counterpart


STRATEGY = PinBox()
