"""One task's memory as the model lays it out at its largest moment.

:mod:`.model` builds it (blocks, frames, parts) and holds the words for
each kind of block and part; :mod:`.text` prints it (``pinbench explain``);
:mod:`.figure` draws it (the layout diagrams of ``pinbench report``).
"""
