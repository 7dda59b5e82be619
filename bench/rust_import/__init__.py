"""`pinbench import rust`: a Rust crate's futures, read from rustc's type sizes, as a workload.

sizes.py reads ``-Zprint-type-sizes``; tree.py builds the await tree and
rustc's layout of each future; workload.py writes the program and its
workload file; questions.py answers what the import is for (the biggest
futures, captures stored twice, where to box); toolchain.py runs cargo or
rustc.
"""
