"""One module per subcommand of `pinbench`, as in asv's ``commands/``.

Each module has ``NAME``, ``add_parser(subparsers)`` (its arguments; it sets
``func=run``) and ``run(args, argv) -> int`` (the exit status). Argument
groups that several commands share (the suite selection, the gate options)
are declared once, in :mod:`.common`. ``bench/cli.py`` lists the commands in
the order `pinbench --help` shows them; a new command is a module here plus
its line there. Commands call the harness; nothing imports a command.
"""
