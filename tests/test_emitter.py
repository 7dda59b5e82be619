"""The Emitter every code generator writes through (bench/emitter.py)."""

from pinbench.bench.emitter import Emitter


def test_blocks_cases_and_optional_blocks_indent_what_is_written_inside():
    out = Emitter()
    out.line("int f(void)")
    with out.block("{"):
        with out.block(None):  # no block: the lines stay at this depth
            out.line("switch (x) {")
        with out.case("case 1:"):
            out.line("y = 1;", "break;")
        with out.case(None):
            out.line("}")
        with out.block("if (y) {", "} else {"):
            out.line("return 1;")
        with out.indented():
            out.line("return 0;")
        out.line("}")
    assert out.text("\n") == (
        "int f(void)\n"
        "{\n"
        "    switch (x) {\n"
        "    case 1:\n"
        "        y = 1;\n"
        "        break;\n"
        "    }\n"
        "    if (y) {\n"
        "        return 1;\n"
        "    } else {\n"
        "        return 0;\n"
        "    }\n"
        "}\n"
    )


def test_a_unit_and_a_starting_depth_of_its_own():
    out = Emitter(depth=1, unit="\t")
    with out.block("for {"):
        out.line("go f()")
    assert out.lines == ["\tfor {", "\t\tgo f()", "\t}"]
