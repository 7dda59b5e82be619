"""Names a shared workload file (or a crate, or a plug-in) could carry into
generated source code: each one tries to end a comment, continue it onto the
next line, or smuggle in code, in one of the languages pinbench generates.

``PAYLOAD_FILE`` is the file the code-carrying names would create if they
ever escaped their comment: the tests run generators and builds in a folder
of their own and assert it never appears.
"""

PAYLOAD_FILE = "pinbench-pwned"
_TOUCH = f'system("touch {PAYLOAD_FILE}")'

HOSTILE_NAMES = (
    # C and C++ block comments, and code after them
    "*/",
    "a */ b",
    "/*",
    "/* nested /* */",
    "*/ int pinbench_injected; /*",
    # short enough (at most 100 characters) to be a valid workload name
    f"*/__attribute__((constructor))static void p(){{{_TOUCH};}}/*",
    f"*/ __attribute__((constructor)) static void pwn(void) {{ extern int system(const char *); {_TOUCH}; }} /*",
    f"*/ static int pwn = {_TOUCH}; /*",
    "*//*",
    "**/",
    "*\\/",
    # line comments and their continuation
    "//",
    "a // b",
    "\\",
    "trailing backslash \\",
    "\\\\",
    "\n",
    "a\nint pinbench_injected;",
    "\r",
    "a\r\nb",
    "\u2028 line separator",
    "\u0085 next line",
    "\x0c form feed",
    "\t tab",
    "\x0b vertical tab",
    # NUL and other control characters
    "\x00",
    "a\x00b",
    "\x1b[31m red",
    "\x7f",
    # trigraphs (??/ is a backslash in ISO C and in C++ before C++17)
    "??/",
    "a ??/",
    "??=define x",
    "??( ??) ??< ??> ??! ??- ??'",
    "????//",
    # quotes and string breakouts
    '"',
    "'",
    f'"; {_TOUCH}; "',
    "`",
    f"`{_TOUCH}`",
    '\\"',
    # Rust: nested block comments, raw strings, attributes, doc comments
    "/*/",
    "*/ fn pinbench_injected() {} /*",
    'r#"',
    "#[allow(unused)]",
    "/// doc",
    "//! inner doc",
    # Go
    "*/ func init() { panic(1) } /*",
    "//go:linkname x y",
    # Java decodes \\u escapes before it lexes, even inside comments
    "\\u000a",
    "\\u002a\\u002f",
    "\\u000d int x;",
    # non-ASCII, bidirectional controls (Trojan Source), a BOM, a lone surrogate
    "café",
    "名前",
    "emoji \U0001f980",
    "\u202e reversed",
    "\u2066 isolate \u2069",
    "\ufeff BOM",
    "\udc80",
    # formats, shells and markup that must stay inert too
    "%",
    "%2A%2F",
    "%s%n{0}{}",
    "$(touch pinbench-pwned)",
    "; rm -rf /",
    "<script>alert(1)</script>",
    "${x} {{x}}",
    "",
    "x" * 500,
    "*/" * 100,
)
