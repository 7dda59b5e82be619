"""C# async methods: a state machine boxed on its first real suspension.

An ``async ValueTask<ulong>`` method's state machine is a struct that runs
on its caller's (the thread's) stack. When it first awaits something that
has not completed, it is copied into a heap box once (the box is also the
returned task), and so is every caller awaiting it (each suspends in
turn); later suspensions reuse the box. A method that completes
synchronously never allocates. Task roots (``Task.Run``) and generators (C#
iterators are objects) are boxes from the start. With ``pool=N`` a
finished box is kept (up to N per method) for the next invocation, as
``PoolingAsyncValueTaskMethodBuilder`` does (it keeps one per thread and
one per core for each state-machine type).

The box counts the model's frame (its 64-byte header stands for the box's
task fields; .NET adds an object header and the Task fields, about 64
bytes by the research in docs/model.md, which are not counted).
``Task<T>`` methods would also allocate a result task on synchronous
completion unless the value is cached (TaskCache: bool, int in [-1, 9),
default values); ValueTask avoids it, and that is what the model counts.

Source: dotnet/runtime ``src/libraries/System.Private.CoreLib/src/System/
Runtime/CompilerServices/AsyncTaskMethodBuilderT.cs`` (``GetStateMachineBox``:
``new AsyncStateMachineBox<TStateMachine>()``, ``box.StateMachine =
stateMachine``, reused while ``taskField`` is that box) and
``PoolingAsyncValueTaskMethodBuilderT.cs`` (``t_tlsCache``, ``s_perCoreCache``).
"""

from ..model.layout import BOX, BOX_ON_SUSPEND, OWN, STACK
from ..model.program import OP_GEN, OP_SPAWN
from .base import BOTTOM_UP, Option, Strategy


class Dotnet(Strategy):
    name = "dotnet"
    summary = "state machines on the thread's stack, boxed once on their first real suspension"
    origin = "C# async methods (AsyncTaskMethodBuilder, PoolingAsyncValueTaskMethodBuilder)"
    color = "#44AA99"  # teal (Paul Tol)
    marker = "h"
    polling = BOTTOM_UP  # a finished task runs its awaiter's continuation
    moves = False  # the copy into the box is counted as copied_bytes, once per invocation
    storage = BOX_ON_SUSPEND
    options = (
        Option("pool", 0, 0, 1 << 20, "finished boxes kept per method for reuse (0: no pooling)"),
        Option("stack", 1536 * 1024, 4096, 1 << 30, "bytes of the thread's stack (a pool thread's: 1.5 MiB)"),
    )

    def place_edge(self, program, edge):
        op = program.edge_op[edge]
        if op == OP_GEN:
            return BOX  # an iterator object
        return OWN if op == OP_SPAWN else STACK

    def storage_plan(self):
        return {"storage": BOX_ON_SUSPEND, "pool": self.option("pool"), "stack_bytes": self.option("stack")}


STRATEGY = Dotnet()
