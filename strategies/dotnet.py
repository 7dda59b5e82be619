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

The box counts the model's frame as the state machine. The runtime's own
bytes per box are counted beside it (``runtime_bytes_per_task``): the
object header (the sync block index and the MethodTable pointer, 16
bytes); ``Task``'s fields (``m_taskId`` and ``m_stateFlags``, 4 bytes each;
``m_action``, ``m_stateObject``, ``m_taskScheduler``,
``m_continuationObject`` and ``m_contingentProperties``, 8 each: 48);
``Task<ulong>``'s ``m_result`` (8); the box's ``_moveNextAction`` and
``Context`` (8 each): 88 bytes (dotnet/runtime ``Task.cs``, ``Future.cs``,
``AsyncTaskMethodBuilderT.cs``, commit ``00b781c6``). A generator is an
iterator object: its header alone (16) beside the frame.
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

OBJECT_HEADER = 16  # the sync block index and the MethodTable pointer
TASK_FIELDS = 2 * 4 + 5 * 8  # m_taskId, m_stateFlags; m_action, m_stateObject, m_taskScheduler,
# m_continuationObject, m_contingentProperties
RESULT = 8  # Task<ulong>.m_result
BOX_FIELDS = 2 * 8  # AsyncStateMachineBox: _moveNextAction, Context (StateMachine is the frame)
BOX_BYTES = OBJECT_HEADER + TASK_FIELDS + RESULT + BOX_FIELDS  # 88 bytes beside the state machine


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

    def runtime_bytes(self, program, fn, frame_bytes):
        # per box allocated (a pooled box reused allocates none)
        return OBJECT_HEADER if program.fn_generator[fn] else BOX_BYTES

    def storage_plan(self):
        return {"storage": BOX_ON_SUSPEND, "pool": self.option("pool"), "stack_bytes": self.option("stack")}


STRATEGY = Dotnet()
