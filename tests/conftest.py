"""The fixtures every test file shares, and the order the files run in.

Helpers that are not fixtures (the CLI in a process of its own, the one-line
error check) are in helpers.py; the independent models in oracles/.
"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fixture_scope(decorator) -> str | None:
    """"function", "module", ... for a @pytest.fixture decorator, else None."""
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    if not (isinstance(target, ast.Attribute) and target.attr == "fixture"):
        return None
    for keyword in call.keywords if call else ():
        if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return "function"


@functools.lru_cache(maxsize=None)
def shared_fixture_tests(path: str) -> frozenset:
    """The tests of a test file that use (directly or through other
    fixtures of the file) a module- or session-scoped fixture of that file:
    a run, a build, a repository made once for the file."""
    try:
        tree = ast.parse((ROOT / path).read_text())
    except OSError:  # not a file of this folder (a node id relative to another root)
        return frozenset()
    fixtures, tests = {}, {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            args = {a.arg for a in node.args.args}
            scopes = [s for s in map(_fixture_scope, node.decorator_list) if s]
            if scopes:
                fixtures[node.name] = (scopes[0] in ("module", "package", "session"), args)
            elif node.name.startswith("test"):
                tests[node.name] = args

    def shared(names, seen=frozenset()):
        return any(fixtures[n][0] or shared(fixtures[n][1] - seen, seen | {n}) for n in names if n in fixtures)

    return frozenset(name for name, args in tests.items() if shared(args))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: none without it
def pytest_xdist_make_scheduler(config, log):
    """With -n (pytest-xdist): each test is a unit of work on its own, except
    the tests of a file that share a fixture built once for the file: they
    go to one worker together, so the fixture is built once (pytest-xdist's
    own --dist loadgroup cannot mark them under pytest 9.2, whose node ids
    it no longer rewrites). Units start in collection order, which
    pytest_collection_modifyitems made costliest first."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path, _, name = nodeid.partition("::")
            return path if name.split("[")[0] in shared_fixture_tests(path) else nodeid

    config.option.loadscopereorder = False  # xdist's order (by group size) would undo the costliest first
    return Scheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """The costliest units of work first (COST; a file's shared-fixture
    tests cost what they cost together), so that no long one starts last
    and leaves the other worker idle."""
    def unit(item):
        path, _, name = item.nodeid.partition("::")
        return path if name.split("[")[0] in shared_fixture_tests(path) else item.nodeid

    cost = {}
    for item in items:
        cost[unit(item)] = cost.get(unit(item), 0.0) + _cost(item)
    items.sort(key=lambda item: cost[unit(item)], reverse=True)  # stable: ties keep the collection order


def _cost(item) -> float:
    path, _, name = item.nodeid.partition("::")
    return COST.get(f"{path.rsplit('/', 1)[-1]}::{name.split('[')[0]}", 0.0)


@pytest.fixture(scope="session", autouse=True)
def unpinned_workers_under_xdist():
    """Under pytest-xdist, tests time pinbench runs on every worker at once.
    Pinned by default to the same last CPU (bench/environment.py), their
    pyperf workers would share that one core while the other idles, and an
    A/A comparison whose arms meet other tests' runs unevenly would see one
    arm twice as slow (seen in CI). tests/test_trust.py checks the pinning
    itself with its own environment."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or "PINBENCH_AFFINITY" in os.environ:
        yield
        return
    os.environ["PINBENCH_AFFINITY"] = "none"
    yield
    os.environ.pop("PINBENCH_AFFINITY", None)


@pytest.fixture
def timer_factory(monkeypatch):
    """``timing.Timer`` for a test: pyperf allows one Runner per process (a
    watchdog, ``Runner._created``), so each test that times in-process gets
    a slot of its own, whichever tests ran before it in the same worker."""
    import pyperf

    from pinbench.bench.timing import Timer

    monkeypatch.setattr(pyperf.Runner, "_created", set())
    return Timer


@pytest.fixture(scope="session", autouse=True)
def session_engine_cache(tmp_path_factory):
    """Compiled engines and native programs go to one cache for the whole
    test session (inherited by the CLI subprocesses), never the user's
    ~/.cache. Under pytest-xdist the workers share it (the folder above
    their own temporary folders): an entry is built in a private folder and
    renamed into place, so concurrent builders are safe, and an engine one
    worker built is a hit for the others."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = Path(tmp_path_factory.getbasetemp()).parent / "pinbench-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("pinbench-cache")
    old = os.environ.get("PINBENCH_CACHE")
    os.environ["PINBENCH_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("PINBENCH_CACHE", None)
    else:
        os.environ["PINBENCH_CACHE"] = old


# CPU seconds of the costliest tests (a parametrized test: per case), the
# test with its fixtures and subprocesses, measured on the 2-core test
# machine by tools/test_cpu.py (a pytest plugin: getrusage of the worker and
# of the processes it waited for, around each test; `python tools/test_cpu.py
# FILE cost` prints these lines). Only the order depends on them: a
# test missing here runs after these, and a stale figure costs only time.
COST = {
    "test_engine.py::test_random_programs_count_the_same": 50,
    "test_validate_loom_fiber.py::test_fiber_mappings_and_reserved_bytes_are_boost_contexts": 39,
    "test_branches.py::test_a_ref_against_itself_reports_no_regression": 29,
    "test_engine.py::test_long_and_deep_programs_compile_compactly": 27,
    "test_engine.py::test_generated_c_compiles_without_warnings": 21,
    "test_instructions.py::test_counts_of_the_same_suite_are_identical_across_processes": 21,
    "test_report.py::test_counts_only_run_draws_every_figure_it_can": 20,
    "test_validate.py::test_saved_validation_becomes_the_reports_fidelity_figure": 20,
    "test_compare.py::test_a_timed_run_compared_with_itself_has_no_regression": 16,
    "test_deep_inputs.py::test_a_10000_function_chain_has_exact_sizes_and_explain_and_report_work": 13,
    "test_branches.py::test_a_branch_with_an_extra_pass_over_the_locals_fails_the_instruction_gate": 13,
    "test_report_browser.py::test_every_image_loads_and_the_console_stays_silent": 13,
    "test_report.py::test_timed_run_draws_time_and_latency_figures": 13,
    "test_cli.py::test_quick_run_writes_results_json": 11,
    "test_branches.py::test_instruction_counts_of_a_ref_against_itself_are_identical": 9,
    "test_import_rust.py::test_tokio_crate_sizes_equal_rustc": 9,
    "test_deep_inputs.py::test_depth_1000_built_ins_explain_and_report": 8,
    "test_branches.py::test_a_branch_that_adds_an_allocation_fails_the_gate": 8,
    "test_baseline.py::test_the_models_numbers_match_the_baseline": 7,
    "test_validate_loom_fiber.py::test_the_command_validates_both": 6,
    "test_engine.py::test_run_uses_the_compiled_engine_by_default_and_records_it": 6,
    "test_hostile_names.py::test_engines_named_by_hostile_names_build_and_run_with_no_side_effect": 6,
    "test_report.py::test_a_saved_comparison_is_drawn_in_the_report": 5,
    "test_instructions.py::test_a_run_with_instructions_stores_shows_and_draws_them": 5,
    "test_branches.py::test_sharded_comparisons_merge_into_one_verdict": 5,
    "test_fuzz.py::test_random_programs_run_leak_free_with_the_oracles_checksum": 5,
    "test_report.py::test_a_registered_section_appears_when_its_file_is_present": 5,
    "test_report.py::test_a_section_whose_function_writes_its_own_files": 5,
    "test_compare.py::test_text_markdown_and_json_outputs": 4,
    "test_fuzz.py::test_the_program_generator_yields_runnable_programs": 4,
    "test_hostile_names.py::test_native_programs_named_by_hostile_names_build_and_run_with_no_side_effect": 4,
    "test_sharding.py::test_timed_shards_merge_their_pyperf_files": 4,
    "test_annotation.py::test_executor_hot_loop_has_no_python_interaction": 3,
    "test_instructions.py::test_the_count_is_of_the_loop_only_so_it_scales_with_the_work": 3,
    "test_report.py::test_open_starts_the_browser_on_the_page": 3,
    "test_report.py::test_report_of_a_folder_without_results_and_a_bad_layout_flag": 3,
    "test_report.py::test_report_rewrites_figures_and_drops_stale_ones": 3,
    "test_sharding.py::test_merge_refuses_shards_that_do_not_fit_together": 3,
    "test_sharding.py::test_the_merged_shards_equal_the_unsharded_run_on_every_exact_count": 3,
    "test_sharding.py::test_merge_force_replaces_only_a_merged_run_never_its_inputs": 3,
    "test_engine.py::test_workload_files_count_the_same": 3,
    "test_validate_go.py::test_parked_goroutines_hold_the_stack_gos_rules_say": 3,
    "test_instructions.py::test_valgrind_from_the_users_path_and_a_relative_engine_cache": 3,
    "test_timing.py::test_pyperf_compare_to_reads_two_pinbench_runs": 2,
    "test_validate.py::test_a_program_that_does_not_compile_fails_with_the_compilers_message": 2,
    "test_history.py::test_history_add_show_report_find_a_planted_step_at_its_commit": 2,
    "test_fuzz_documents.py::test_damaged_results_are_one_line_in_the_report": 2,
    "test_memory_limit.py::test_a_suite_left_to_pinbench_skips_what_does_not_fit_and_runs_the_rest": 2,
    "test_branches.py::test_a_ref_that_does_not_build_is_one_line_and_cleans_up": 2,
    "test_history.py::test_a_history_that_cannot_be_written_or_was_damaged_is_one_line": 2,
    "test_branches.py::test_bad_refs_and_bad_places_are_one_line_and_exit_2": 2,
    "test_fuzz_documents.py::test_a_damaged_saved_comparison_is_a_note_or_one_line": 2,
    "test_branches.py::test_an_interrupted_build_removes_its_worktree": 2,
    "test_plots_time.py::test_strategies_are_sorted_fastest_first_with_their_ratio_beside": 2,
    "test_engine.py::test_compare_across_engines_compares_counts_but_gives_no_timing_verdict": 1,
    "test_history.py::test_bad_history_input_is_one_line": 1,
    "test_validate_go.py::test_the_command_prints_and_saves_the_held_figures": 1,
    "test_engine_cache.py::test_a_program_too_large_to_compile_quickly_runs_interpreted_with_a_note": 1,
    "test_history.py::test_a_timing_step_of_5_percent_is_found_in_9_of_10_trials_and_a_flat_series_has_none": 1,
    "test_report.py::test_layout_diagram_counts_blocks_it_does_not_draw": 1,
    "test_validate.py::test_a_cpp_program_that_does_not_compile_fails_in_process": 1,
    "test_held.py::test_run_headline_leads_with_held_bytes_not_frames_in_use": 1,
    "test_compare.py::test_save_writes_comparison_json_for_the_report_and_the_figure_draws_it": 1,
    "test_cli.py::test_interrupted_run_keeps_what_finished": 1,
    "test_allocators_c.py::test_allocators_c": 1,
    "test_fuzz_documents.py::test_damaged_results_are_one_line_in_show_and_compare": 1,
    "test_report_browser.py::test_screenshot_is_saved_under_the_results_folder": 1,
    "test_engine.py::test_a_run_stopped_by_the_memory_limit_counts_the_same": 1,
    "test_validate.py::test_a_missing_toolchain_is_skipped_with_a_clear_message": 1,
    "test_validate.py::test_one_language_alone_reports_no_disagreement": 1,
    "test_trust.py::test_timer_adds_workers_runs_to_the_same_benchmark": 1,
    "test_deep_inputs.py::test_a_results_json_of_100000_nested_brackets_is_one_line": 1,
    "test_compare.py::test_synthetic_a_a_false_alarms_stay_below_alpha": 1,
    "test_cli.py::test_param_sweep_runs_each_value": 1,
    "test_engine.py::test_two_processes_building_the_same_entry_at_once": 1,
    "test_hostile_names.py::test_a_workload_file_whose_name_carries_code_runs_as_data": 1,
    "test_sharding.py::test_bad_shard_arguments_are_one_line": 1,
}
