"""Inject faults into real CPU runs of the training CLI and write `results/reliability.md`.

Every trial starts `python -m senet_ablate` exactly as a user would (through this file's
`--child` mode, which only adds announcements and short pauses at the moments worth killing).
What is checked:
  kill anywhere   SIGKILL at random moments (start-up, training, evaluation, checkpoint and
                  record writes), restart the same command each time; the final record must
                  equal an uninterrupted run's, and no record may say `completed` too early
  damaged ckpt    truncate / flip a byte / empty / garbage the newest checkpoint (and both)
                  after a kill; the rerun must name it in its log and end like an uninterrupted run
  corrupt image   an image folder with unreadable files: failed (exit 1) naming the file, or
                  skipped and counted with data.skip_corrupt=true
  NaN             a diverging run: exit 3, `diverged` with the step
  writers         two processes writing records into one results dir, many times over
  refusals        bad command lines: exit 2, one line, nothing written
  stop signals    SIGTERM, SIGINT, SIGUSR1, SIGUSR2 to the run's whole process group while its
                  DataLoader workers run (as SLURM and Ctrl-C send them): exit 5 at a step, that
                  step saved; the rerun must end like an uninterrupted run
  suspended       SIGSTOP past the claim's stale limit, a second start, SIGCONT: the first stops
                  without writing (exit 4), the second ends like an uninterrupted run
  foreign claims  another node's claim with its heartbeat a year ahead (its clock), with fields of
                  the wrong type, or empty (its disk was full): taken over, not obeyed
  other pid ns    a run training in a pid namespace of its own (a container's) on this host, a
                  second start outside it: left to it (exit 4), the first completes
  clock behind    a live node 11 minutes behind holds a run: a start and a sweep leave it (exit 4,
                  named); once the node stops beating it is taken over after the stale limit
  requeue         a dead node's claim, 30 s old: waited out (another machine's) or taken over at once
                  (provably dead here), said in one line; the run ends like an uninterrupted one
  full disk       results_dir on a 3 MB tmpfs (in a mount namespace of its own): one line, the
                  record no ahead of the checkpoint; with room, the rerun ends like the reference
  read-only       a completed run's results dir mounted read-only: the run, a new run and the
                  report are each one error line with exit 2
  shared umask    umask 002: every file the run writes is 0664
  data identity   two BMP folders with the same names and sizes, other pixels: two runs, not one
  16-bit PNG      16-bit greyscale PNGs load at their true brightness
  mistakes        a first hour's mistakes (image-folder layouts, NFC/NFD class names, a comma or
                  `~` in a path, every image unreadable, 5 classes, the reporter's out=, empty and
                  damaged results dirs): one line each, the right exit status, no traceback
  copied record   a record copied as `<id> (1).json`: the report counts the run once, names the copy
  record from another schema
                  a record without `se.bias` (an older version's), one with a key this version
                  lacks: migrated, counted in their row, said under the table
  bad predictions file
                  a run's predictions.npz truncated, or with one label for all (it would broadcast):
                  named under the table, left out of the noise floor; exit 0
  non-finite metric
                  top-1 errors of NaN and Infinity in records: named, not counted; exit 0
  interpolation in a record
                  `${no.such.key}` in a record's config: the planner reads it as data, the report
                  names a record it makes unfit for the schema; exit 0
  unsafe label    an experiment row labelled ../../../escaped or a|b: one line, exit 2, nothing written
  duplicate rows  two rows of an experiment file under one label: one line, exit 2, nothing written
  results in data results_dir inside data.root, directly or through a link: one line, dataset untouched
  seed range      seed=4294967296 (beyond numpy's seeds): one line, exit 2, nothing written
  long label      a 300-character row label: one line, exit 2, before any row trains
  non-UTF-8 root  a data.root whose name is not UTF-8, bare and quoted: one line, exit 2
  broken siblings a sweep beside broken experiment files in its search path: exit 0, its table written
  planted symlink links to an outside file where a run, a sweep and the report write (log,
                  config snapshot, record, claim, table, multirun.yaml): the file is unchanged
  two configs     two single runs of one model, data and seed: a log folder each, by run id
  two umasks      users with umasks 022 and 002 in one setgid results dir: both run; a folder
                  without group write is one line saying what to chmod
  claim dir       a folder where a claim goes: one line, exit 2
  planted ckpt    the newest checkpoint a pickle that would create a file, under a valid SHA-256:
                  nothing runs, the file is named, the rerun ends like an uninterrupted run
  planted CIFAR   a CIFAR batch file a pickle that would create a file: nothing runs, exit 2, one line
  truncated CIFAR a CIFAR batch file cut short: exit 2, one line naming it
  linked classes  `ln -s .. train/a/up`, `ln -s . train/a/self`: exit 2, one line naming the link
  open-file limit `ulimit -n 30` and 8 loader workers: exit 1, record failed, no hang, no worker left

    python scripts/reliability.py                  # 12 kills, writes results/reliability.md
    python scripts/reliability.py --kills 3 --out /tmp/r.md
"""

import argparse
import importlib
import json
import multiprocessing
import os
import random
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "@@fault-point "
# A small run: 4 epochs of 8 steps, a few seconds on a CPU (generated data unless a trial sets data=).
# se.bias=false: the reference run is squeeze_sweep's Avg row, whose file sets it (the paper's setting)
RUN = [
    "model=resnet20",
    "trainer=smoke",
    "trainer.epochs=4",
    "trainer.batch_size=32",
    "trainer.device=cpu",
    "se.bias=false",
]
SYNTHETIC = ["data=synthetic", "data.train_size=256", "data.val_size=128"]
PHASES = ("start-up", "train", "eval", "checkpoint", "record")
# Fields that depend on when and how fast a run went, not on what it computed.
TIMING = {"epoch_time_s", "images_per_s", "wall_time_s", "started_at", "updated_at", "env"}
# What --quick (the test suite's run) leaves to the suite's own tests: each fault, and the tests
# that assert its outcome (tests/test_reliability.py checks that each of them exists). --quick
# stages the rest: the kills, the full disk and the umask (no test of their own does it end to end),
# and a refusal and a report on planted records (the harness's helpers behind the faults left out).
QUICK_LEAVES_OUT = {
    "damaged checkpoint": (
        "tests/test_checkpoint.py::test_a_damaged_newest_is_named_with_its_reason_and_the_previous_one_loaded",
        "tests/test_checkpoint.py::test_both_damaged_restarts_from_scratch_naming_both",
        "tests/test_untrusted_data.py::"
        "test_a_run_whose_newest_checkpoint_is_planted_resumes_from_the_previous_and_ends_as_uninterrupted",
    ),
    "corrupt image": (
        "tests/test_data.py::test_skipped_images_are_counted_in_the_record_and_a_failure_names_the_file",
    ),
    "NaN/inf loss": (
        "tests/test_trust.py::test_exit_status_says_what_happened_and_logs_have_no_carriage_returns",
        "tests/test_train.py::test_divergence_is_recorded_at_the_step_it_happens",
    ),
    "concurrent writers": ("tests/test_trust.py::test_concurrent_writers_into_one_results_dir_lose_nothing",),
    "refused input": (
        "tests/test_config.py::test_invalid_values_are_refused_in_one_line_before_anything_runs",
        "tests/test_trust.py::test_cli_refusals_write_nothing_and_touch_no_earlier_record",
    ),
    "stop signal to the group": (
        "tests/test_stop_signals.py::test_a_stop_signal_to_the_whole_process_group_stops_at_a_step_and_saves_it",
        "tests/test_preemption.py::"
        "test_a_warning_signal_checkpoints_the_step_and_a_restart_ends_like_an_uninterrupted_run",
    ),
    "suspended claim": (
        "tests/test_claims.py::test_a_run_whose_claim_was_taken_over_while_suspended_stops_without_writing",
        "tests/test_claims.py::test_a_claim_taken_over_is_neither_refreshed_nor_released_by_its_old_holder",
    ),
    "foreign claim": (
        "tests/test_claims.py::test_a_heartbeat_far_in_the_future_is_dead_once_unchanged_for_the_stale_limit",
        "tests/test_claims.py::test_an_empty_claim_or_one_with_a_field_of_the_wrong_type_is_taken_over_once_it_stays_so",
    ),
    "read-only results dir": (
        "tests/test_storage_faults.py::test_a_read_only_results_dir_is_one_line_with_exit_status_2",
        "tests/test_report.py::test_a_read_only_results_dir_is_one_error_line_naming_out_before_anything_is_written",
    ),
    "same-size images": (
        "tests/test_data.py::test_same_names_and_sizes_with_other_pixels_are_other_data_and_other_runs",
    ),
    "16-bit PNG": ("tests/test_data.py::test_images_wider_than_8_bits_are_scaled_not_clipped",),
    "one line for a mistake": (  # and its 5-class run's top-5
        "tests/test_data.py::test_a_class_folder_without_images_is_named",
        "tests/test_data.py::test_a_flat_validation_folder_is_named_as_imagenets_raw_layout",
        "tests/test_data.py::test_a_run_with_no_readable_image_fails_with_one_log_line",
        "tests/test_data.py::test_a_class_mismatch_names_the_classes_and_a_unicode_normalisation_twin",
        "tests/test_config.py::test_a_comma_in_a_path_of_a_single_run_is_one_line_saying_how_to_quote_it",
        "tests/test_config.py::test_a_tilde_path_is_one_line_and_a_quoted_one_is_the_home_directory",
        "tests/test_data.py::test_hidden_folders_are_not_classes",
        "tests/test_train.py::test_top5_error_is_none_with_5_classes_or_fewer_and_counted_with_more",
    ),
    "report mistakes": (
        "tests/test_report.py::test_out_naming_a_file_is_one_error_line",
        "tests/test_report.py::test_results_dir_without_records_is_refused_saying_where_they_are_expected",
        "tests/test_report.py::test_each_malformed_record_is_skipped_with_a_warning_and_the_table_counts_the_good_one",
        "tests/test_report.py::test_cli_writes_the_tables_and_warns_about_damaged_records",
    ),
    "record from another schema": (
        "tests/test_shared_records.py::test_records_of_another_schema_version_are_migrated_counted_and_said",
    ),
    "bad predictions file": (
        "tests/test_shared_records.py::test_unusable_predictions_are_named_and_left_out_of_the_noise_floor",
    ),
    "non-finite metric": (
        "tests/test_shared_records.py::"
        "test_a_non_finite_figure_is_named_and_its_record_not_counted_while_divergence_still_shows",
    ),
    "interpolation in a record": (
        "tests/test_shared_records.py::test_the_planner_reads_a_records_config_as_data",
        "tests/test_shared_records.py::test_a_records_config_is_data_never_an_interpolation_to_resolve",
    ),
    "unsafe row label": (
        "tests/test_safe_input.py::test_an_unsafe_or_long_row_label_is_one_line_naming_it_before_anything_is_written",
    ),
    "duplicate row labels": ("tests/test_safe_input.py::test_duplicate_row_labels_are_one_line_naming_both_rows",),
    "results dir in the dataset": (
        "tests/test_safe_input.py::test_a_results_dir_inside_the_dataset_is_refused_before_anything_is_written",
    ),
    "300-character label": ("tests/test_safe_input.py::test_a_300_character_label_is_refused_before_any_row_trains",),
    "non-UTF-8 data.root": ("tests/test_safe_input.py::test_a_data_root_that_is_not_utf8_is_one_line",),
    "planted CIFAR pickle": (
        "tests/test_untrusted_data.py::test_the_cli_refuses_a_planted_cifar_batch_in_one_line_writing_nothing",
    ),
    "truncated CIFAR file": (
        "tests/test_untrusted_data.py::"
        "test_cifar_files_as_published_or_written_by_gpu_check_are_read_and_a_truncated_one_is_one_line",
    ),
    "symlinked class folder": (
        "tests/test_untrusted_data.py::test_a_link_to_a_folder_inside_a_class_folder_is_refused_naming_it",
    ),
    "other pid namespace": (
        "tests/test_claims.py::test_a_live_claim_from_a_real_second_pid_namespace_on_this_host_is_not_taken_over",
    ),
    "clock behind": (
        "tests/test_claims.py::test_a_live_claim_from_a_node_whose_clock_runs_11_minutes_behind_is_not_taken_over",
        "tests/test_claims.py::test_a_dead_node_whose_clock_runs_behind_is_taken_over_after_the_stale_limit_of_watching",
    ),
    "requeue after a dead node": (
        "tests/test_claims.py::test_a_requeued_job_takes_over_at_once_the_claim_of_a_holder_provably_dead",
        "tests/test_claims.py::test_a_requeued_job_waits_for_the_claim_of_a_dead_node_to_go_stale_then_takes_it_over",
    ),
    "broken sibling experiment": (
        "tests/test_safe_input.py::test_experiment_files_the_command_did_not_ask_for_never_fail_it",
    ),
    "planted symlink": (
        "tests/test_shared_results.py::test_a_run_writes_through_no_link_planted_where_its_files_go",
        "tests/test_shared_results.py::test_links_planted_where_the_report_writes_its_tables_are_refused_or_replaced",
        "tests/test_shared_results.py::test_a_sweep_removes_a_link_planted_at_multirun_yaml_before_hydra_writes_it",
    ),
    "two configs one log dir": (
        "tests/test_shared_results.py::test_two_configs_of_one_model_data_and_seed_have_a_log_folder_each",
    ),
    "two umasks in a setgid dir": (
        "tests/test_shared_results.py::test_two_users_with_umasks_022_and_002_share_a_setgid_results_dir",
    ),
    "claim path is a dir": ("tests/test_shared_results.py::test_a_folder_where_a_claim_goes_is_one_line_naming_it",),
    "planted checkpoint": (
        "tests/test_untrusted_data.py::test_a_planted_checkpoint_with_a_valid_digest_runs_no_code_and_is_named",
        "tests/test_untrusted_data.py::"
        "test_a_run_whose_newest_checkpoint_is_planted_resumes_from_the_previous_and_ends_as_uninterrupted",
    ),
    "open-file limit": (
        "tests/test_untrusted_data.py::"
        "test_workers_that_cannot_all_start_leave_no_process_behind_and_the_run_exits_failed",
    ),
}


# --- the child: the real CLI, with announcements at the moments worth killing ----------------


def run_child(argv: list[str], pause_s: float) -> None:
    """Run `python -m senet_ablate argv`, announcing each phase on stderr and pausing briefly in it."""
    from senet_ablate.engine.trainer import Trainer

    def announce(phase: str) -> None:
        print(MARKER + phase, file=sys.stderr, flush=True)
        time.sleep(pause_s)

    real_replace = os.replace

    def replace(source, target, *args, **kwargs):  # the last step of every atomic write
        name = str(target)
        if name.endswith((".pt", ".json")):
            announce("checkpoint" if name.endswith(".pt") else "record")
        return real_replace(source, target, *args, **kwargs)

    def announced(method, phase):
        def wrapper(self, *args, **kwargs):
            announce(phase)
            return method(self, *args, **kwargs)

        return wrapper

    os.replace = replace
    Trainer.train_one_epoch = announced(Trainer.train_one_epoch, "train")
    Trainer.evaluate = announced(Trainer.evaluate, "eval")
    sys.argv = ["senet_ablate", *argv]
    runpy.run_module("senet_ablate", run_name="__main__", alter_sys=True)


# --- the harness -------------------------------------------------------------------------------


@dataclass
class Trial:
    name: str
    detail: str
    survived: bool
    note: str = ""


@dataclass
class Report:
    trials: list[Trial] = field(default_factory=list)
    work: str | None = None  # the trials' temporary folder, written $WORK in the report
    not_run: list[str] = field(default_factory=list)  # trials this machine cannot stage, and why

    def add(self, name: str, detail: str, survived: bool, note: str = "") -> None:
        if self.work:
            detail, note = detail.replace(self.work, "$WORK"), note.replace(self.work, "$WORK")
        self.trials.append(Trial(name, detail, survived, note))
        print(f"[{'ok' if survived else 'LOST'}] {name}: {detail} {note}", flush=True)


def cli(results: Path, data: list[str] = SYNTHETIC, fault_pause_s: float | None = None) -> subprocess.Popen:
    """The training CLI on RUN + `data`; with `fault_pause_s`, through `run_child`'s announcements."""
    base = [sys.executable, __file__, "--child", str(fault_pause_s)] if fault_pause_s is not None else None
    command = base or [sys.executable, "-m", "senet_ablate"]
    return subprocess.Popen(
        [*command, *RUN, *data, f"results_dir={results}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout_s: float = 600) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout_s)
    return process.returncode, out + (err or "")


def the_record(results: Path) -> dict | None:
    records = list((results / "runs").glob("*.json"))
    return json.loads(records[0].read_text()) if records else None


def outcome(record: dict) -> dict:
    """What a run computed: the record without timing fields (epochs included), its results_dir,
    `exp`, which names who asked for the run (the command line's overrides included), or
    data.num_workers (augmentations are seeded per image: workers change no result)."""
    kept = {key: value for key, value in record.items() if key not in TIMING}
    kept["config"] = {key: value for key, value in record["config"].items() if key not in ("results_dir", "exp")}
    kept["config"]["data"] = {key: value for key, value in kept["config"]["data"].items() if key != "num_workers"}
    kept["epochs"] = [{k: v for k, v in epoch.items() if k not in TIMING} for epoch in record["epochs"]]
    return kept


def ended_as(reference: dict, status: int | None, results: Path) -> bool:
    """Whether the run in `results` exited 0 with the record an uninterrupted run has (`reference`)."""
    record = the_record(results)
    return status == 0 and record is not None and outcome(record) == reference


def kill_at(process: subprocess.Popen, phase: str, occurrence: int, rng: random.Random) -> bool:
    """SIGKILL `process` a random instant into the `occurrence`-th announcement of `phase`
    (start-up: a random instant after launch). False if it ended first."""
    if phase == "start-up":
        time.sleep(rng.uniform(0.2, 3.0))
    else:
        seen = 0
        for line in process.stderr:
            if line.startswith(MARKER) and line[len(MARKER) :].strip() == phase:
                seen += 1
                if seen == occurrence:
                    break
        else:
            return False
        time.sleep(rng.uniform(0, 0.1))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def kill_anywhere(report: Report, work: Path, reference: dict, kills: int, rng: random.Random) -> None:
    """Kill the run `kills` times, restarting the same command after each; whenever a run gets
    to its end (a kill came too late), its record must equal the reference, and it starts over."""
    results = work / "killed"
    done = since_start = 0
    while done < kills:
        phase, occurrence = rng.choice(PHASES), rng.randint(1, 3)
        process = cli(results, fault_pause_s=0.15)
        killed = kill_at(process, phase, occurrence, rng)
        status = None if killed else finish(process)[0]
        record = the_record(results)
        if killed:
            done, since_start = done + 1, since_start + 1
            premature = record is not None and record["status"] == "completed" and outcome(record) != reference
            report.add(
                "kill anywhere",
                f"SIGKILL #{done} in {phase} (occurrence {occurrence}), record then: "
                f"{record['status'] if record else 'none'}, {len(record['epochs']) if record else 0} epochs",
                not premature,
                "a record said completed for an unfinished run" if premature else "",
            )
        if record is not None and record["status"] == "completed" and done < kills:
            equal = status in (None, 0) and outcome(record) == reference
            report.add("kill anywhere", f"run ended after {since_start} kills: exit {status}", equal)
            shutil.rmtree(results)  # start over from nothing to place the remaining kills
            since_start = 0
    status, log = finish(cli(results))
    equal = ended_as(reference, status, results)
    report.add(
        "kill anywhere", f"run ended after {since_start} kills: exit {status}", equal, "" if equal else log[-500:]
    )


DAMAGE = {
    "truncated to half": lambda data: data[: len(data) // 2],
    "one byte flipped": lambda data: (
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
    ),
    "emptied": lambda data: b"",
    "replaced by garbage": lambda data: os.urandom(len(data)),
}


def damaged_checkpoints(report: Report, work: Path, reference: dict, rng: random.Random) -> None:
    kinds = [*DAMAGE.items(), ("both files truncated", DAMAGE["truncated to half"])]
    for index, (kind, damage) in enumerate(kinds):
        results = work / f"damaged{index}"
        process = cli(results, fault_pause_s=0.0)
        kill_at(process, "train", 3, rng)  # while epoch 3 trains: epochs 1 and 2 are checkpointed
        checkpoints = sorted((results / "runs").glob("*/checkpoint*.pt"))
        targets = checkpoints if kind.startswith("both") else [p for p in checkpoints if p.name == "checkpoint.pt"]
        for path in targets:
            path.write_bytes(damage(path.read_bytes()))
        status, log = finish(cli(results))
        named = all(str(path) in log for path in targets) and "damaged" in log
        equal = ended_as(reference, status, results)
        report.add(
            "damaged checkpoint",
            f"{kind}: {', '.join(path.name for path in targets)} (of {len(checkpoints)} kept), rerun exit {status}",
            equal and named,
            "" if named else "the log does not name the damaged file",
        )


def corrupt_images(report: Report, work: Path) -> None:
    import numpy as np
    from PIL import Image

    root = work / "images"
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 8)):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    bad = [root / "train" / "a" / "broken.png", root / "val" / "b" / "text.jpg"]
    bad[0].write_bytes((root / "train" / "a" / "0.png").read_bytes()[:100])
    bad[1].write_text("not an image")
    folder_run = [
        "data=imagefolder",
        f"data.root={root}",
        "data.num_classes=2",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=8",
    ]
    status, log = finish(cli(work / "corrupt-fail", folder_run))
    record = the_record(work / "corrupt-fail")
    named = any(str(path) in (record or {}).get("error", "") for path in bad)
    report.add(
        "corrupt image",
        f"2 unreadable files, default: exit {status}, {record and record['status']}",
        status == 1 and named,
    )
    status, log = finish(cli(work / "corrupt-skip", [*folder_run, "data.skip_corrupt=true"]))
    record = the_record(work / "corrupt-skip")
    skipped = record["skipped_images"] if record else None
    report.add(
        "corrupt image",
        f"data.skip_corrupt=true: exit {status}, {record and record['status']}, {skipped} image reads skipped",
        status == 0 and bool(skipped),
    )


def divergence(report: Report, work: Path) -> None:
    status, _ = finish(cli(work / "nan", [*SYNTHETIC, "trainer.lr=1e30"]))
    record = the_record(work / "nan")
    at = record and record["diverged_at"]
    report.add("NaN/inf loss", f"trainer.lr=1e30: exit {status}, diverged at {at}", status == 3 and bool(at))


def _write_many(results: str, writer: int, count: int) -> None:
    from senet_ablate.records.store import new_record, record_path, write_record

    for index in range(count):
        write_record(
            record_path(results, "shared"), new_record(run_id="shared", status="running", config={}, seed=index, env={})
        )
        write_record(
            record_path(results, f"w{writer}-{index}"),
            new_record(run_id=f"w{writer}-{index}", status="completed", config={}, seed=0, top1_err=50.0, env={}),
        )


def concurrent_writers(report: Report, work: Path, count: int = 500) -> None:
    from senet_ablate.records.store import iter_records

    results = work / "writers"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(results), w, count)) for w in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    readable = len(list(iter_records(results)))
    expected = 2 * count + 1
    report.add(
        "concurrent writers",
        f"2 processes x {count} x 2 record writes: {readable}/{expected} records readable",
        readable == expected,
    )


REFUSALS = [
    ["se.reduction=abc"],
    ["trainer.lr=-0.1"],
    ["trainer.milestones=[]"],
    ["model=resnet20", "se.position=3x3"],
    ["data=cifar10", "data.root=/nonexistent"],
]


def refusals(report: Report, work: Path) -> None:
    for args in REFUSALS:
        results = work / "refused"
        own_data = any(arg.startswith("data=") for arg in args)
        status, log = finish(cli(results, args if own_data else [*SYNTHETIC, *args]))
        lines = [line for line in log.strip().splitlines() if line.startswith("error: ")]
        nothing = not (results / "runs").exists() or not list((results / "runs").iterdir())
        report.add(
            "refused input",
            f"{' '.join(args)}: exit {status}, {lines[0] if lines else log[-200:]}",
            status == 2 and nothing and len(lines) == 1,
        )


# --- faults of a cluster and a first hour ---------------------------------------------------


def start(args: list[str], results: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    """`python -m senet_ablate` on RUN + `args` into `results`, in a process group of its own (as a
    SLURM job step or a terminal gives it), with `env` added to the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "senet_ablate", *RUN, *args, f"results_dir={results}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
        **popen,
    )


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (DataLoader workers of a run), from /proc."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat_file.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat_file.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def wait_until(condition, process: subprocess.Popen, timeout_s: float = 300) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("error: ")]


def stop_signals(report: Report, work: Path, reference: dict, rng: random.Random) -> None:
    """SIGTERM / SIGINT / SIGUSR1 / SIGUSR2 to the run's whole process group while its 2 loader workers
    run (what SLURM and Ctrl-C do): exit 5 at a step with that step saved; the rerun ends as the reference."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        results = work / f"signal-{signum.name}"
        process = start([*SYNTHETIC, "data.num_workers=2"], results)
        if not wait_until(lambda p=process: len(children(p.pid)) >= 2, process):
            report.add(
                "stop signal to the group",
                f"{signum.name}: the workers never started",
                False,
                finish(process)[1][-300:],
            )
            continue
        time.sleep(rng.uniform(0.0, 0.3))  # within the first epochs: an idle machine runs all four in ~2 s
        os.killpg(process.pid, signum)
        status, log = finish(process)
        record = the_record(results) or {}
        where = record.get("interrupted_at") or {}
        stopped = status == 5 and where.get("signal") == signum.name and "Traceback" not in log
        rerun_status, _ = finish(cli(results, [*SYNTHETIC, "data.num_workers=2"]))
        equal = ended_as(reference, rerun_status, results)
        report.add(
            "stop signal to the group",
            f"{signum.name} to the process group (2 loader workers): exit {status}, {record.get('status')} at "
            f"step {where.get('step')} of epoch {where.get('epoch')}; rerun exit {rerun_status}",
            stopped and equal,
            "" if stopped else log[-400:],
        )


def suspended_claim(report: Report, work: Path) -> None:
    """Ctrl-Z for longer than the claim's stale limit: a second start takes the run over; the first,
    resumed meanwhile, must stop without writing (exit 4) while the second completes every epoch."""
    results, stale = work / "suspended", {"SENET_ABLATE_CLAIM_STALE_S": "2"}
    # 8 times the reference's training set, so that the first start is still training when it is stopped
    longer = [*SYNTHETIC, "data.train_size=2048", "data.num_workers=0"]
    first = start(longer, results, env=stale)
    runs = results / "runs"
    if not wait_until(lambda: list(runs.glob("*/checkpoint.pt")), first):
        report.add("suspended claim", "the first start never reached a checkpoint", False, finish(first)[1][-300:])
        return
    first.send_signal(signal.SIGSTOP)
    (claim,) = runs.glob("*.claim")
    first_token = json.loads(claim.read_text())["token"]
    time.sleep(3)  # > the stale limit
    second = start(longer, results, env=stale)

    def taken_over() -> bool:
        try:
            return json.loads(claim.read_text())["token"] != first_token
        except (OSError, ValueError, KeyError):
            return False

    taken = wait_until(taken_over, second)
    first.send_signal(signal.SIGCONT)  # while the second start trains
    first_status, first_log = finish(first)
    second_status, _ = finish(second)
    record = the_record(results) or {"status": None, "epochs": []}
    whole = second_status == 0 and record["status"] == "completed" and len(record["epochs"]) == 4
    report.add(
        "suspended claim",
        f"SIGSTOP 3 s with a 2 s stale limit, a second start, SIGCONT: first exit {first_status}, "
        f"second exit {second_status} with {len(record['epochs'])} epochs",
        taken and first_status == 4 and "taken over" in first_log and whole,
        "" if first_status == 4 else first_log[-400:],
    )


def run_id_of(args: list[str]) -> str:
    from senet_ablate.config import compose_config
    from senet_ablate.data import dataset_fingerprint
    from senet_ablate.engine.machine import for_device
    from senet_ablate.records.store import run_id

    cfg = for_device(compose_config([*RUN, *args]), "cpu")
    return run_id(cfg, dataset_fingerprint(cfg.data))


FOREIGN_CLAIMS = {
    "a heartbeat a year ahead (a node's clock)": lambda: {
        "host": "node-ahead",
        "pid": 1,
        "heartbeat": time.time() + 365 * 86400,
        "token": "x",
    },
    "fields of the wrong type": lambda: {"host": "node-7", "pid": "4242", "heartbeat": "soon"},
    "an empty claim (its writer's disk was full)": lambda: None,
}


def foreign_claims(report: Report, work: Path, reference: dict) -> None:
    """Claims that no live process keeps, left by another node: each must be taken over, not obeyed
    (another node's after its heartbeat stays unchanged for the 2 s stale limit of watching)."""
    for index, (what, holder) in enumerate(FOREIGN_CLAIMS.items()):
        results = work / f"foreign-claim{index}"
        (results / "runs").mkdir(parents=True)
        content = holder()
        (results / "runs" / f"{run_id_of(SYNTHETIC)}.claim").write_text("" if content is None else json.dumps(content))
        status, log = finish(start(SYNTHETIC, results, env={"SENET_ABLATE_CLAIM_STALE_S": "2"}))
        equal = ended_as(reference, status, results)
        report.add(
            "foreign claim",
            f"{what}: exit {status}",
            equal and "taking over the dead claim" in log,
            "" if equal else log[-400:],
        )


def unshare_pid() -> list[str] | None:
    """A command prefix that runs a process in a pid namespace of its own (a container's, as far as
    pids go) whose next pid is 30000, or None where this machine refuses one."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c"]
    script = 'echo 29999 > /proc/sys/kernel/ns_last_pid && "$@"; exit $?'
    if shutil.which("unshare") and subprocess.run([*prefix, script, "sh", "true"], capture_output=True).returncode == 0:
        return [*prefix, script, "sh"]
    return None


def other_pid_namespace(report: Report, work: Path) -> None:
    """A run training in a pid namespace of its own on this host (a container's), and a second start
    of the same run outside it: its pid is no process here, which proves nothing. The second must
    leave the run to it (exit 4), and the first complete every epoch."""
    prefix = unshare_pid()
    if prefix is None:
        report.not_run.append("other pid namespace: this machine refuses a pid namespace (unshare)")
        print(f"[not run] {report.not_run[-1]}", flush=True)
        return
    results, stale = work / "pid-namespace", {"SENET_ABLATE_CLAIM_STALE_S": "10"}
    longer = [*SYNTHETIC, "data.train_size=2048", "data.num_workers=0"]  # still training when the second starts
    first = subprocess.Popen(
        [*prefix, sys.executable, "-m", "senet_ablate", *RUN, *longer, f"results_dir={results}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **stale},
    )
    runs = results / "runs"
    if not wait_until(lambda: list(runs.glob("*/checkpoint.pt")), first):
        report.add("other pid namespace", "the first start never reached a checkpoint", False, finish(first)[1][-300:])
        return
    (claim,) = runs.glob("*.claim")
    holder = json.loads(claim.read_text())
    second_status, second_log = finish(start(longer, results, env=stale))
    first_status, first_log = finish(first)
    record = the_record(results) or {"status": None, "epochs": []}
    whole = first_status == 0 and record["status"] == "completed" and len(record["epochs"]) == 4
    said = "in another pid namespace of this machine" in second_log and "left to it" in second_log
    left = second_status == 4 and said
    report.add(
        "other pid namespace",
        f"a run in its own pid namespace (pid {holder['pid']} there, no such pid here) and a second start "
        f"outside it: second exit {second_status}, first exit {first_status} with {len(record['epochs'])} epochs",
        left and whole,
        "" if left else second_log[-400:],
    )


class NodeElsewhere:
    """The claim of a node that is not this machine (another boot id), kept alive by a thread that
    writes its heartbeat every 0.2 s by that node's clock, `behind_s` behind ours, until `stop`."""

    def __init__(self, path: Path, behind_s: float):
        import threading

        self.path, self.behind_s, self.stopped = path, behind_s, threading.Event()
        self.holder = {"host": "node-behind", "pid": 4242, "boot_id": "another-boot", "pid_ns": "pid:[1]"}
        self.holder.update(start_ticks=1, token="node-behind's")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.beat()
        self.thread = threading.Thread(target=self.keep_beating, daemon=True)
        self.thread.start()

    def beat(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({**self.holder, "heartbeat": time.time() - self.behind_s}))
        os.replace(tmp, self.path)

    def keep_beating(self) -> None:
        while not self.stopped.wait(0.2):
            self.beat()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def sweep_run_id(exp: str, row: str) -> str:
    from senet_ablate.runs.listing import run_ids, sweep_configs

    (cfg,) = sweep_configs(exp, [0], [*RUN, *SYNTHETIC], [row])
    return run_ids(cfg)[0]


def clock_behind(report: Report, work: Path, reference: dict) -> None:
    """A live node whose clock runs 11 minutes behind ours holds the run (its heartbeats look 660 s
    old, past the 10-minute stale limit): a single start and a sweep over it must leave it to that
    node (exit 4, the sweep naming it, its table and summary agreeing), and once the node stops
    beating, the same command takes the run over after the stale limit of watching."""
    results = work / "clock-behind"
    node = NodeElsewhere(results / "runs" / f"{run_id_of(SYNTHETIC)}.claim", behind_s=660)
    status, log = finish(start(SYNTHETIC, results))
    left = status == 4 and "its heartbeat changed while we watched: left to it" in log
    report.add(
        "clock behind",
        f"a live node 11 minutes behind holds the run: a start exits {status}",
        left and json.loads(node.path.read_text())["token"] == "node-behind's",
        "" if left else log[-400:],
    )
    sweep = NodeElsewhere(results / "runs" / f"{sweep_run_id('gate_sweep', 'ReLU')}.claim", behind_s=660)
    status, log = finish(start([*SYNTHETIC, "+exp=gate_sweep", "exp.row=ReLU"], results))
    sweep.stop()
    named = [line for line in log.splitlines() if "did not finish here (row ReLU seed 0 pending on node-behind" in line]
    table = (results / "gate_sweep.md").read_text() if (results / "gate_sweep.md").exists() else ""
    agree = any(line.startswith("| ReLU ") and "pending" in line for line in table.splitlines())
    report.add(
        "clock behind",
        f"the same node holds a sweep's row: the sweep exits {status}, naming it in one line: {bool(named)}; "
        f"table and summary both say pending: {agree}",
        status == 4 and len(named) == 1 and agree,
        "" if named else log[-400:],
    )
    node.stop()  # the node dies
    status, log = finish(start(SYNTHETIC, results, env={"SENET_ABLATE_CLAIM_STALE_S": "3"}))
    equal = ended_as(reference, status, results)
    report.add(
        "clock behind",
        f"the node dies; the same command with a 3 s stale limit: exit {status}",
        equal and "its heartbeat did not change in 3 s of watching" in log,
        "" if equal else log[-400:],
    )


def requeue_after_a_dead_node(report: Report, work: Path, reference: dict) -> None:
    """A job requeued after its node died finds that node's claim, its heartbeat 30 s old (within
    the stale limit): it waits for the claim to go stale (another machine's: a 40 s limit here) or,
    where it can prove the holder dead (this boot and pid namespace, the pid now another process's),
    takes it over at once (the default 10-minute limit). It says in one line which happened, and
    ends like an uninterrupted run."""
    from senet_ablate.records.processes import identity

    mine = identity()
    holders = {
        "another machine's (its death cannot be proven from here)": (
            {"host": "node-dead", "pid": 4242, "boot_id": "another-boot", "pid_ns": "pid:[1]", "start_ticks": 1},
            {"SENET_ABLATE_CLAIM_STALE_S": "40"},
            "its heartbeat did not change in 40 s of watching",
        ),
        "this machine's, its pid now another process's": (
            {**mine, "host": socket.gethostname(), "pid": os.getpid(), "start_ticks": mine["start_ticks"] - 1},
            {},
            "now belongs to another process",
        ),
    }
    for index, (what, (holder, stale, said)) in enumerate(holders.items()):
        results = work / f"requeue{index}"
        (results / "runs").mkdir(parents=True)
        claim = {**holder, "heartbeat": time.time() - 30, "token": "the dead node's"}
        (results / "runs" / f"{run_id_of(SYNTHETIC)}.claim").write_text(json.dumps(claim))
        status, log = finish(start(SYNTHETIC, results, env=stale))
        equal = ended_as(reference, status, results)
        lines = [line for line in log.splitlines() if "taking over the dead claim" in line]
        report.add(
            "requeue after a dead node",
            f"a claim 30 s old, {what}: exit {status}, said in one line: {bool(lines) and said in lines[0]}",
            equal and len(lines) == 1 and said in lines[0],
            "" if equal else log[-400:],
        )


def private_mounts() -> list[str] | None:
    """A command prefix that runs a process in a mount namespace of its own (to mount a small tmpfs or
    a read-only folder without touching the machine's), or None where this machine allows neither."""
    for prefix in (["unshare", "--map-root-user", "--mount"], ["unshare", "--mount"]):
        if shutil.which(prefix[0]) and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def namespaced(report: Report, work: Path, trial: str) -> None:
    """Run `trial` (a function of this file) in a mount namespace of its own; its trials join `report`."""
    prefix = private_mounts()
    if prefix is None:
        report.not_run.append(f"{trial.replace('_', ' ')}: this machine refuses a mount namespace (unshare)")
        print(f"[not run] {report.not_run[-1]}", flush=True)
        return
    out = work / f"{trial}.json"
    result = subprocess.run(
        [*prefix, sys.executable, __file__, "--namespaced", trial, str(work), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0 or not out.exists():
        report.add(
            trial.replace("_", " "), f"the trial itself failed (exit {result.returncode})", False, result.stderr[-400:]
        )
        return
    for trial_result in json.loads(out.read_text()):
        report.add(**trial_result)


def full_disk(report: Report, work: Path) -> None:
    """(In a mount namespace.) results_dir on a 3 MB tmpfs: the epoch-2 checkpoint does not fit. The
    run must fail in one line with its record no ahead of its checkpoint; given space, the rerun ends
    as the reference."""
    import torch

    from senet_ablate.engine.checkpoint import load_checkpoint

    reference = outcome(the_record(work / "reference"))
    disk = work / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
    status, log = finish(cli(disk / "results"))
    record = the_record(disk / "results") or {"epochs": [], "status": None}
    checkpoint = load_checkpoint(next((disk / "results" / "runs").glob("*/checkpoint.pt")), torch.device("cpu"))
    consistent = status == 1 and record["status"] == "failed" and len(record["epochs"]) == len(checkpoint["history"])
    one_line = "No space left on device" in log and "Traceback" not in log
    report.add(
        "full disk",
        f"results_dir on a 3 MB tmpfs: exit {status}, record {record['status']} with {len(record['epochs'])} epochs, "
        f"checkpoint {len(checkpoint['history'])} epochs",
        consistent and one_line,
        "" if one_line else log[-400:],
    )
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    status, _ = finish(cli(disk / "results"))
    equal = ended_as(reference, status, disk / "results")
    report.add("full disk", f"the same command once the disk has room: exit {status}", equal)


def read_only(report: Report, work: Path) -> None:
    """(In a mount namespace.) A results dir that cannot be written, with a completed run in it: the
    same command, a new run under it and the report are each one error line, exit status 2."""
    shared = work / "reference"  # a completed run's results dir, made read-only
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(shared)], check=True)
    commands = {
        "the completed run's command": [
            sys.executable,
            "-m",
            "senet_ablate",
            *RUN,
            *SYNTHETIC,
            f"results_dir={shared}",
        ],
        "a new run under it": [sys.executable, "-m", "senet_ablate", *RUN, *SYNTHETIC, f"results_dir={shared}/new"],
        "the report": [sys.executable, "-m", "senet_ablate.report", f"results_dir={shared}"],
    }
    for what, command in commands.items():
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        lines = result.stderr.strip().splitlines()
        report.add(
            "read-only results dir",
            f"{what}: exit {result.returncode}, {lines[0] if lines else '(nothing on stderr)'}",
            result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "),
            "" if len(lines) == 1 else result.stderr[-400:],
        )


NAMESPACED = {"full_disk": full_disk, "read_only": read_only}


def shared_umask(report: Report, work: Path) -> None:
    """A team's umask 002: every record, checkpoint and log must be group-readable and writable."""
    results = work / "umask"
    status, _ = finish(start(SYNTHETIC, results, preexec_fn=lambda: os.umask(0o002)))
    files = [path for path in results.rglob("*") if path.is_file()]
    modes = sorted({oct(path.stat().st_mode & 0o777) for path in files})
    report.add(
        "shared results dir",
        f"umask 002: exit {status}, file modes {', '.join(modes)}",
        status == 0 and modes == ["0o664"],
    )


def write_images(root: Path, make, suffix: str = ".png", classes=("a", "b"), counts=(("train", 16), ("val", 8))):
    """An image folder `root/{train,val}/<class>/<i><suffix>`, each image `make(rng)` (a numpy array)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in counts:
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.fromarray(make(rng)).save(folder / f"{index}{suffix}")
    return root


def folder_run(root: Path, classes: int = 2) -> list[str]:
    return [
        "data=imagefolder",
        f"data.root={root}",
        f"data.num_classes={classes}",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=8",
        "trainer.epochs=1",
    ]


def same_size_images(report: Report, work: Path) -> None:
    """Two folders of BMPs with the same names and sizes, one of them noise: two runs, not one skipped."""
    import numpy as np

    def stripes(rng):
        image = np.zeros((36, 36, 3), dtype=np.uint8)
        image[:, : rng.integers(4, 32)] = 255
        return image

    first = write_images(work / "bmp-a", stripes, ".bmp")
    second = write_images(work / "bmp-b", lambda rng: rng.integers(0, 256, (36, 36, 3), dtype=np.uint8), ".bmp")
    results = work / "bmp-results"
    statuses = [finish(cli(results, folder_run(root)))[0] for root in (first, second)]
    records = [json.loads(path.read_text()) for path in (results / "runs").glob("*.json")]
    fingerprints = {record["data_fingerprint"] for record in records}
    report.add(
        "same-size images",
        f"two BMP folders, same names and sizes, other pixels: exits {statuses}, {len(records)} records, "
        f"{len(fingerprints)} data fingerprints",
        statuses == [0, 0] and len(records) == 2 and len(fingerprints) == 2,
    )


def sixteen_bit_png(report: Report, work: Path) -> None:
    """16-bit greyscale PNGs, mean 31 on an 8-bit scale: they must load as 31, not as white."""
    import numpy as np

    from senet_ablate.data.imagefolder import load_image

    root = write_images(work / "png16", lambda rng: rng.integers(0, 62 * 257, (36, 36), dtype=np.uint16))
    status, log = finish(cli(work / "png16-results", folder_run(root)))
    loaded = np.asarray(load_image(str(root / "train" / "a" / "0.png")), dtype=np.float64).mean()
    report.add(
        "16-bit PNG",
        f"16-bit greyscale PNGs of mean 31 (8-bit scale): exit {status}, loaded with mean {loaded:.1f}",
        status == 0 and abs(loaded - 31) < 1,
        "" if status == 0 else log[-400:],
    )


def one_line_mistakes(report: Report, work: Path) -> None:
    """A first hour's mistakes: each one error line naming what is wrong, the right exit status, no traceback."""
    import numpy as np

    def noise(rng):
        return rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)

    empty_class = write_images(work / "empty-class", noise)
    for split in ("train", "val"):
        (empty_class / split / "c").mkdir()
    flat_val = write_images(work / "flat-val", noise, counts=(("train", 8),))
    write_images(work / "flat-val-images", noise, classes=("x",), counts=(("val", 4),))
    (flat_val / "val").mkdir()
    for image in (work / "flat-val-images" / "val" / "x").iterdir():
        image.rename(flat_val / "val" / image.name)
    unreadable = work / "unreadable"
    for split in ("train", "val"):
        for label in ("a", "b"):
            (unreadable / split / label).mkdir(parents=True)
            for index in range(4):
                (unreadable / split / label / f"{index}.png").write_text("not an image")
    nfc, nfd = "\u00dcber", "U\u0308ber"
    mismatch = write_images(work / "nfc-nfd", noise, classes=(nfc, "b"), counts=(("train", 4),))
    write_images(mismatch, noise, classes=(nfd, "b"), counts=(("val", 4),))
    cases = [
        ("an empty class folder", folder_run(empty_class, 3), 2, "c"),
        ("a flat val/ (ImageNet's raw layout)", folder_run(flat_val), 2, "class"),
        ("data.skip_corrupt=true, every image unreadable", [*folder_run(unreadable), "data.skip_corrupt=true"], 1, ""),
        ("train/val classes in NFC and NFD", folder_run(mismatch), 2, "Unicode"),
        ("a comma in data.root", folder_run(Path(f"{work}/a,b")), 2, "comma"),
        ("data.root=~/x", [*folder_run(work)[:1], "data.root=~/x", *folder_run(work)[2:]], 2, "$HOME"),
    ]
    for what, args, expected, named in cases:
        status, log = finish(cli(work / "mistakes", args))
        lines = error_lines(log) or [line for line in log.splitlines() if "ERROR" in line][:1]
        ok = status == expected and "Traceback" not in log and len(lines) == 1 and named in lines[0]
        report.add(
            "one line for a mistake",
            f"{what}: exit {status}, {lines[0] if lines else '(no error line)'}",
            ok,
            "" if ok else log[-400:],
        )
    hidden = write_images(work / "hidden-folder", noise)
    write_images(hidden, noise, classes=(".ipynb_checkpoints",), counts=(("train", 1),))
    status, log = finish(cli(work / "hidden-results", folder_run(hidden)))
    report.add(
        "one line for a mistake",
        f"a hidden .ipynb_checkpoints folder among the classes: exit {status}",
        status == 0,
        "" if status == 0 else log[-400:],
    )
    five = write_images(work / "five-classes", noise, classes=tuple("abcde"), counts=(("train", 4), ("val", 2)))
    status, _ = finish(cli(work / "five-results", folder_run(five, 5)))
    record = the_record(work / "five-results") or {}
    report.add(
        "top-5 with 5 classes",
        f"a 5-class run: exit {status}, top5_err {record.get('top5_err')!r}",
        status == 0 and record.get("top5_err") is None,
    )


def report_mistakes(report: Report, work: Path) -> None:
    """The reporter given a file for `out`, a results dir without records, and damaged records."""
    (work / "a-file").write_text("")
    (work / "no-records").mkdir()
    damaged = work / "damaged-records"
    shutil.copytree(work / "reference", damaged)
    good = the_record(damaged)
    bad = {
        "interrupted-without-where": {**good, "run_id": "bad1", "status": "interrupted", "interrupted_at": None},
        "top1-as-text": {**good, "run_id": "bad2", "top1_err": "12.5"},
    }
    for name, record in bad.items():
        (damaged / "runs" / f"{name}.json").write_text(json.dumps(record))
    cases = [
        ("out= a file", [f"results_dir={work / 'reference'}", f"out={work / 'a-file'}"], 2),
        ("a results dir with no records", [f"results_dir={work / 'no-records'}"], 2),
        ("two damaged records beside a good one", [f"results_dir={damaged}", f"out={work / 'damaged-tables'}"], 0),
    ]
    for what, args, expected in cases:
        result = subprocess.run(
            [sys.executable, "-m", "senet_ablate.report", *args], capture_output=True, text=True, timeout=600
        )
        lines = error_lines(result.stderr)
        if expected == 0:
            warned = all(f"{name}.json" in result.stderr for name in bad)
            ok = result.returncode == 0 and warned and "Traceback" not in result.stderr
            detail = f"{what}: exit {result.returncode}, each damaged record named in a warning: {warned}"
        else:
            ok = result.returncode == expected and len(lines) == 1 and "Traceback" not in result.stderr
            detail = f"{what}: exit {result.returncode}, {lines[0] if lines else '(no error line)'}"
        report.add("report mistakes", detail, ok, "" if ok else result.stderr[-400:])


# --- records in a shared results dir: read by identity, migrated, finite, with usable predictions ------

SHARED_NOTES = "Records and predictions not counted, or counted with a change:"


def shared_copy(work: Path, name: str) -> tuple[Path, dict]:
    """A copy of the reference run's results dir to plant a file in, and its completed record."""
    results = work / name
    shutil.copytree(work / "reference", results)
    return results, the_record(work / "reference")


def refile(results: Path, record: dict) -> str:
    """Write `record` under the id its content has, as the version that wrote it would; the id."""
    from senet_ablate.records.store import config_id

    record["run_id"] = config_id(record["config"], record["data_fingerprint"])
    (results / "runs" / f"{record['run_id']}.json").write_text(json.dumps(record))
    return record["run_id"]


def report_on(results: Path, overrides: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """The report CLI on squeeze_sweep (the reference run is its Avg row), with `overrides`: (exit
    status, the Avg line of its table or '', the notes under it or '')."""
    out = results / "tables"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "senet_ablate.report", f"results_dir={results}", f"out={out}"),
            *("exps=squeeze_sweep", *overrides),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    table = out / "squeeze_sweep.md"
    markdown = table.read_text() if table.exists() else ""
    avg = next((line for line in markdown.splitlines() if line.startswith("| Avg |")), "")
    notes = markdown.split(SHARED_NOTES, 1)[1].split("\n\n", 2)[1] if SHARED_NOTES in markdown else ""
    if result.returncode != 0 or "Traceback" in result.stderr:
        notes += result.stderr[-400:]
    return result.returncode, avg, notes


def report_trial(
    report: Report, fault: str, what: str, results: Path, said: list[str], overrides: tuple[str, ...] = ()
) -> None:
    """The report on `results` (with `overrides`) must exit 0, count the reference run alone in the
    Avg row (n=1) and say each of `said` under the table."""
    status, avg, notes = report_on(results, overrides)
    cells = avg.split(" | ")
    ok = status == 0 and len(cells) > 1 and cells[1].endswith("(n=1)") and all(text in notes for text in said)
    shown = cells[1] if len(cells) > 1 else "no table"
    detail = f"{what}: exit {status}, Avg top-1 {shown}, each file named under the table: {ok}"
    report.add(fault, detail, ok, "" if ok else notes)


def copied_record(report: Report, work: Path) -> None:
    """A record copied under a second name, as a file manager names a copy: the run counts once."""
    results, record = shared_copy(work, "copied-record")
    run = record["run_id"]
    shutil.copy(results / "runs" / f"{run}.json", results / "runs" / f"{run} (1).json")
    said = [f"`runs/{run} (1).json`: not counted: the same run as `runs/{run}.json`"]
    report_trial(report, "copied record", f"`{run} (1).json` beside `{run}.json`", results, said)


def other_schema(report: Report, work: Path) -> None:
    """Records of an older version (no `se.bias`) and of a newer one (a key this one lacks): migrated,
    counted in their row, and said."""
    cases = {  # an older version had no se.bias key and always the biases: reported as se.bias=true
        "an older record without se.bias": (lambda config: config["se"].pop("bias"), ("se.bias=true",)),
        "a newer record with se.shape": (lambda config: config["se"].update(shape="round"), ()),
    }
    for index, (what, (change, overrides)) in enumerate(cases.items()):
        results, record = shared_copy(work, f"other-schema-{index}")
        (results / "runs" / f"{record['run_id']}.json").unlink()
        change(record["config"])
        run = refile(results, record)
        said = [f"`runs/{run}.json`: migrated from another version's schema:"]
        report_trial(report, "record from another schema", what, results, said, overrides)


def bad_predictions(report: Report, work: Path) -> None:
    """The reference run's per-image predictions truncated, or with one label for every prediction
    (which would broadcast): named and left out of the validation noise; the table still written."""
    import numpy as np

    cases = {
        "truncated": lambda path: path.write_bytes(path.read_bytes()[:100]),
        "one label": lambda path: np.savez_compressed(
            path, predicted=np.zeros(128, np.int16), label=np.zeros(1, np.int16)
        ),
    }
    for what, damage in cases.items():
        results, record = shared_copy(work, f"predictions-{what.replace(' ', '-')}")
        path = results / "runs" / record["run_id"] / "predictions.npz"
        damage(path)
        said = [f"`runs/{record['run_id']}/predictions.npz`: not used for the validation noise"]
        report_trial(report, "bad predictions file", f"predictions.npz {what}", results, said)


def non_finite_metric(report: Report, work: Path) -> None:
    """Seeds 1 and 2 of the reference run planted with a top-1 error of NaN and Infinity: each named
    and not counted, the table still written from seed 0."""
    results, record = shared_copy(work, "non-finite")
    runs = []
    for seed, value in ((1, float("nan")), (2, float("inf"))):
        planted = json.loads(json.dumps(record))
        planted["config"]["seed"] = planted["seed"] = seed
        planted["top1_err"] = value
        runs.append(refile(results, planted))
    said = [
        f"`runs/{runs[0]}.json`: not counted: top1_err=NaN",
        f"`runs/{runs[1]}.json`: not counted: top1_err=Infinity",
    ]
    report_trial(report, "non-finite metric", "top-1 NaN and Infinity in two records", results, said)


def interpolation_in_record(report: Report, work: Path) -> None:
    """A record whose config holds `${no.such.key}`: data, never resolved. In `data.root` (the same
    run) the planner costs the row from it; in `trainer.lr` the report names it and counts it not."""
    results, record = shared_copy(work, "interpolation")
    record["config"]["data"]["root"] = "${no.such.key}"
    (results / "runs" / f"{record['run_id']}.json").write_text(json.dumps(record))
    command = [sys.executable, "-m", "senet_ablate.plan", "+exp=squeeze_sweep", "exp.row=Avg", "seed=0,1"]
    result = subprocess.run(
        [*command, *RUN, *SYNTHETIC, f"results_dir={results}"], capture_output=True, text=True, timeout=600
    )
    measured = any(
        line.startswith("  Avg ") and "measured over 1 completed" in line for line in result.stdout.splitlines()
    )
    ok = result.returncode == 0 and measured
    detail = f"plan, data.root=${{no.such.key}}: exit {result.returncode}, Avg costed from the record: {measured}"
    report.add("interpolation in a record", detail, ok, "" if ok else (result.stdout + result.stderr)[-400:])
    results, record = shared_copy(work, "interpolation-report")
    seeded = json.loads(json.dumps(record))
    seeded["config"]["seed"] = seeded["seed"] = 1
    seeded["config"]["trainer"]["lr"] = "${no.such.key}"
    run = refile(results, seeded)
    said = [f"`runs/{run}.json`: not counted: its config does not fit this version's schema: trainer.lr="]
    report_trial(report, "interpolation in a record", "report, trainer.lr=${no.such.key}", results, said)


def experiment_file(conf: Path, name: str, labels: list[str]) -> str:
    """A user's `<conf>/exp/<name>.yaml` with one row per label (each its own reduction ratio);
    returns the `hydra.searchpath` override that finds it."""
    rows = "".join(
        f"    - {{label: {json.dumps(label)}, set: [se.reduction={2 + i}]}}\n" for i, label in enumerate(labels)
    )
    (conf / "exp").mkdir(parents=True, exist_ok=True)
    (conf / "exp" / f"{name}.yaml").write_text(
        f"# @package _global_\ndefaults:\n  - /sweep: rows\nexp:\n  reference: {json.dumps(labels[0])}\n  rows:\n{rows}"
    )
    return f"hydra.searchpath=[file://{conf}]"


def refused_in_one_line(report: Report, fault: str, what: str, args: list[str], results: Path, named: str) -> None:
    """`args` must exit 2 with one error line naming `named`, no traceback, and nothing under `results`."""
    status, log = finish(cli(results, args))
    lines = error_lines(log)
    untouched = not results.exists() or not any(results.iterdir())
    ok = status == 2 and len(lines) == 1 and named in lines[0] and "Traceback" not in log and untouched
    detail = f"{what}: exit {status}, {lines[0][:160] if lines else '(no error line)'}"
    report.add(fault, detail + ("" if untouched else "; written under results_dir"), ok, "" if ok else log[-400:])


def unsafe_labels(report: Report, work: Path) -> None:
    """Row labels that would name a log dir outside results_dir, or split a markdown table's row."""
    for index, label in enumerate(["../../../escaped", "a|b"]):
        searchpath = experiment_file(work / f"unsafe-{index}", "mine", ["base", label])
        results = work / f"unsafe-{index}" / "a" / "b" / "results"
        what = f"an experiment row labelled {label}"
        refused_in_one_line(report, "unsafe row label", what, [*SYNTHETIC, "+exp=mine", searchpath], results, label)
        if (work / f"unsafe-{index}" / "escaped").exists():
            report.add("unsafe row label", f"{what}: a folder was made outside results_dir", False)


def duplicate_labels(report: Report, work: Path) -> None:
    """Two rows of one experiment file under one label: the second would never train."""
    searchpath = experiment_file(work / "duplicates", "mine", ["base", "se", "se"])
    args = [*SYNTHETIC, "+exp=mine", searchpath]
    refused_in_one_line(report, "duplicate row labels", "rows 1 and 2 labelled se", args, work / "dup-results", "se")


def results_in_dataset(report: Report, work: Path) -> None:
    """results_dir inside data.root (directly and through a link): logs would land among the images."""
    import numpy as np

    root = write_images(work / "dataset", lambda rng: rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    (work / "dataset-link").symlink_to(root)
    before = sorted(path.relative_to(root) for path in root.rglob("*"))
    for what, results in (("inside", root / "train" / "results"), ("through a link", work / "dataset-link" / "r")):
        refused_in_one_line(
            report,
            "results dir in the dataset",
            f"results_dir {what} data.root",
            folder_run(root),
            results,
            "data.root",
        )
    if sorted(path.relative_to(root) for path in root.rglob("*")) != before:
        report.add("results dir in the dataset", "the dataset changed", False)


def seed_range(report: Report, work: Path) -> None:
    """A seed numpy cannot take (2**32): one line, not numpy's traceback from inside the run."""
    args = [*SYNTHETIC, "seed=4294967296"]
    refused_in_one_line(report, "seed out of range", "seed=4294967296", args, work / "seed-results", "4294967295")


def long_label(report: Report, work: Path) -> None:
    """A 300-character row label, longer than a file name may be: refused before any row trains."""
    searchpath = experiment_file(work / "long-label", "mine", ["base", "x" * 300])
    args = [*SYNTHETIC, "+exp=mine", searchpath]
    refused_in_one_line(report, "300-character label", "a row labelled x * 300", args, work / "long-results", "64")


def non_utf8_root(report: Report, work: Path) -> None:
    """A data.root whose name is not UTF-8, typed bare and quoted as the bare one's error advises."""
    import numpy as np

    root = Path(os.fsdecode(bytes(work) + b"/\xffimages"))
    write_images(root, lambda rng: rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    for what, typed in (("bare", f"data.root={root}"), ("quoted", f'data.root="{root}"')):
        args = [*folder_run(root)[:1], typed, *folder_run(root)[2:]]
        refused_in_one_line(report, "non-UTF-8 data.root", f"{what}", args, work / "utf8-results", "UTF-8")


def broken_siblings(report: Report, work: Path) -> None:
    """A sweep whose search path holds other, broken experiment files: its own rows and table must not
    suffer (exit 0, its table written), and the broken files are named in a warning."""
    conf = work / "siblings"
    searchpath = experiment_file(conf, "mine", ["base", "se"])
    experiment_file(conf, "labels", ["a|b", "a|b"])
    (conf / "exp" / "unparsable.yaml").write_text("exp:\n  rows: [ {label: x\n")
    results = work / "siblings-results"
    args = [*SYNTHETIC, "+exp=mine", "exp.row=base", "trainer.max_steps_per_epoch=1", searchpath]  # one row, 4 steps
    status, log = finish(cli(results, args))
    table = results / "mine.md"
    named = all(f"experiment file {name} left out" in log for name in ("labels", "unparsable"))
    ok = status == 0 and table.exists() and named and "Traceback" not in log
    detail = f"a sweep beside 2 broken experiment files: exit {status}, table: {table.exists()}, both named: {named}"
    report.add("broken sibling experiment", detail, ok, "" if ok else log[-400:])


PRECIOUS = "a file of the user's outside the results dir\n"


def planted_symlinks(report: Report, work: Path) -> None:
    """Links to a file outside the results dir, planted where a run, a sweep and the report write
    (Hydra's old log and snapshot names too): each target must be unchanged afterwards, and a file
    of ours in the link's place (a claim is released: gone)."""
    outside = work / "outside.txt"
    outside.write_text(PRECIOUS)
    results, run = work / "planted", run_id_of(SYNTHETIC)
    targets = {
        "Hydra's old log file": results / "logs" / "resnet20-synthetic-seed0" / "senet_ablate.log",
        "Hydra's old config snapshot": results / "logs" / "resnet20-synthetic-seed0" / ".hydra" / "config.yaml",
        "the run's log file": results / "logs" / run / "senet_ablate.log",
        "the run's config snapshot": results / "logs" / run / "config.yaml",
        "the run's record": results / "runs" / f"{run}.json",
        "the run's claim": results / "runs" / f"{run}.claim",
        "a table (the report's out=)": work / "planted-tables" / "README.md",
        "a sweep's multirun.yaml": results / "logs" / "gate_sweep" / "multirun.yaml",
    }
    for link in targets.values():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(outside)
    statuses = {"run": finish(cli(results))}
    statuses["report"] = finish(
        subprocess.Popen(
            [sys.executable, "-m", "senet_ablate.report", f"results_dir={results}", f"out={work / 'planted-tables'}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    )
    sweep = ["+exp=gate_sweep", "exp.row=Sigmoid", "trainer.epochs=1"]
    statuses["sweep"] = finish(start([*SYNTHETIC, *sweep], results))
    for what, link in targets.items():
        by = "report" if "table" in what else "sweep" if "sweep" in what else "run"
        status, log = statuses[by]
        ours = not link.is_symlink() and (not link.exists() if "claim" in what else link.is_file())
        kept = outside.read_text() == PRECIOUS
        in_place = "not written any more" if "Hydra's old" in what else f"a file of ours in its place: {ours}"
        report.add(
            "planted symlink",
            f"{what}: the {by} exits {status}, outside file unchanged: {kept}, {in_place}",
            status == 0 and kept and (ours or "Hydra's old" in what),
            "" if status == 0 else log[-400:],
        )


def two_configs_one_log_dir(report: Report, work: Path) -> None:
    """Two single runs of one model, dataset and seed, other SE ratios: a log folder each, by run id."""
    results = work / "two-configs"
    runs = {}
    for reduction in (8, 16):
        status, log = finish(start([*SYNTHETIC, f"se.reduction={reduction}"], results))
        runs[reduction] = (run_id_of([*SYNTHETIC, f"se.reduction={reduction}"]), status, log)
    for reduction, (run, status, log) in runs.items():
        folder = results / "logs" / run
        snapshot = (folder / "config.yaml").read_text() if (folder / "config.yaml").exists() else ""
        text = (folder / "senet_ablate.log").read_text() if (folder / "senet_ablate.log").exists() else ""
        own = f"reduction: {reduction}\n" in snapshot and f"run {run}" in text
        mixed = any(other in text for other, _, _ in runs.values() if other != run)
        report.add(
            "two configs one log dir",
            f"se.reduction={reduction}: exit {status}, logs/{run}/ holds its own snapshot and log: {own}, "
            f"the other run's lines in it: {mixed}",
            status == 0 and own and not mixed,
            "" if status == 0 else log[-400:],
        )


# What the CLI imports, as far as a run goes: imported before a forked child becomes another user.
PRELOADED = (
    "senet_ablate.__main__",
    "senet_ablate.runs.run",
    "senet_ablate.report.tables",
    "senet_ablate.data.synthetic",
    "importlib.metadata",
    "platform",
    "hydra._internal.core_plugins.basic_launcher",
    "hydra._internal.core_plugins.basic_sweeper",
)


def two_umasks_in_a_setgid_dir(report: Report, work: Path) -> None:
    """Two users of one group, umasks 022 and 002, run into one setgid results dir (uids 5001 and
    5002, group 4242: root becomes them); then a folder an older version made without group write
    meets the second user: one line saying what to chmod."""
    if os.geteuid() != 0:
        report.not_run.append("two umasks in a setgid dir: needs root, to run as two users")
        print(f"[not run] {report.not_run[-1]}", flush=True)
        return
    team = Path(tempfile.mkdtemp(prefix="senet-team-"))  # `work` is root's alone (0700)
    try:
        team.chmod(0o755)
        results = team / "results"
        results.mkdir()
        os.chown(results, 0, 4242)
        results.chmod(0o2775)

        def as_user(uid: int, umask: int, args: list[str]) -> tuple[int, str]:
            """The CLI as `uid`, in a forked child: the interpreter may lie where only root can
            reach it (a pyenv under /root), so the child runs the CLI's module, not a new process."""
            output = team / f"output-{uid}-{'-'.join(args)}.txt"
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    os.dup2(fd, 1)
                    os.dup2(fd, 2)
                    for module in PRELOADED:  # the standard library may be where only root reads
                        importlib.import_module(module)
                    os.setgroups([4242])
                    os.setgid(uid)
                    os.setuid(uid)
                    os.umask(umask)
                    os.chdir(team)
                    os.environ.update(HOME=str(team), SENET_ABLATE_CACHE_DIR=str(team / f"cache-{uid}"))
                    sys.argv = ["senet_ablate", *RUN, *SYNTHETIC, *args, f"results_dir={results}"]
                    try:
                        runpy.run_module("senet_ablate", run_name="__main__", alter_sys=True)
                        status = 0
                    except SystemExit as stop:
                        status = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
                except BaseException:  # noqa: BLE001 -- the child's traceback is its outcome
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), output.read_text()

        for uid, umask, args in ((5001, 0o022, ["seed=0"]), (5002, 0o002, ["seed=1"])):
            status, log = as_user(uid, umask, args)
            report.add(
                "two umasks in a setgid dir",
                f"uid {uid}, umask {umask:03o}: exit {status}",
                status == 0 and "Traceback" not in log,
                "" if status == 0 else log[-400:],
            )
        (results / "runs").chmod(0o2755)  # as an older version left it: no group write
        status, log = as_user(5002, 0o002, ["seed=2"])
        lines = error_lines(log)
        report.add(
            "two umasks in a setgid dir",
            f"runs/ without group write: exit {status}, {lines[0] if lines else '(no error line)'}".replace(
                str(team), "$TEAM"
            ),
            status == 2 and len(lines) == 1 and "chmod g+w" in lines[0] and "Traceback" not in log,
            "" if status == 2 else log[-400:],
        )
    finally:
        shutil.rmtree(team)


def claim_path_is_a_dir(report: Report, work: Path) -> None:
    """A folder where the run's claim file goes: one line naming it, exit 2."""
    results = work / "claim-dir"
    (results / "runs" / f"{run_id_of(SYNTHETIC)}.claim").mkdir(parents=True)
    status, log = finish(start(SYNTHETIC, results))
    lines = error_lines(log)
    report.add(
        "claim path is a dir",
        f"exit {status}, {lines[0] if lines else '(no error line)'}",
        status == 2 and len(lines) == 1 and ".claim is a folder" in lines[0] and "Traceback" not in log,
        "" if status == 2 else log[-400:],
    )


class Planted:
    """What a hostile group member pickles into a shared dir: unpickled with pickle's defaults, it
    creates `marker` (the file's appearance is the proof that code ran)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def planted_checkpoint(report: Report, work: Path, reference: dict, rng: random.Random) -> None:
    """A newest checkpoint replaced by a pickle that would create a file, under a valid header and
    SHA-256 (unkeyed: anyone can compute it). The rerun must run none of it, name the file, fall
    back to the previous checkpoint and end as the reference."""
    import hashlib
    import io

    import torch

    from senet_ablate.engine.checkpoint import MAGIC

    results, marker = work / "planted-checkpoint", work / "planted-checkpoint-ran"
    kill_at(cli(results, fault_pause_s=0.0), "train", 3, rng)  # while epoch 3 trains: epochs 1 and 2 are saved
    (newest,) = (results / "runs").glob("*/checkpoint.pt")
    buffer = io.BytesIO()
    torch.save({"model": Planted(marker), "history": []}, buffer)
    payload = buffer.getvalue()
    newest.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
    status, log = finish(cli(results))
    named = f"checkpoint {newest} is damaged (refused by torch's safe unpickler" in log
    equal = ended_as(reference, status, results)
    report.add(
        "planted checkpoint",
        f"the newest checkpoint a pickle that would create a file, valid SHA-256: rerun exit {status}, "
        f"file created: {marker.exists()}, named in a warning: {named}",
        equal and named and not marker.exists(),
        "" if equal else log[-400:],
    )


def write_cifar_batches(root: Path) -> Path:
    """CIFAR-10's six batch files of 64 random images each under `root`; returns `root`."""
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (64, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 64).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    return root


def cifar_refusal(report: Report, work: Path, fault: str, what: str, damage, marker: Path | None = None) -> None:
    """A CIFAR data dir whose first batch file `damage` rewrites: one error line naming it, exit 2,
    no record, and (with `marker`) no file created."""
    name = fault.replace(" ", "-")
    root = write_cifar_batches(work / name)
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(damage(batch.read_bytes()))
    results = work / f"{name}-results"
    status, log = finish(cli(results, ["data=cifar10", f"data.root={root}", "data.num_workers=0"]))
    lines = error_lines(log)
    nothing = not (results / "runs").exists() or not list((results / "runs").iterdir())
    ran = marker is not None and marker.exists()
    ok = status == 2 and len(lines) == 1 and str(batch) in lines[0] and nothing and not ran and "Traceback" not in log
    detail = f"{what}: exit {status}, {lines[0] if lines else '(no error line)'}"
    report.add(
        name.replace("-", " "), detail + (f"; file created: {ran}" if marker else ""), ok, "" if ok else log[-400:]
    )


def planted_cifar(report: Report, work: Path) -> None:
    import pickle

    marker = work / "planted-cifar-ran"
    planted = pickle.dumps({b"data": Planted(marker), b"labels": [0]})
    cifar_refusal(
        report,
        work,
        "planted CIFAR pickle",
        "data_batch_1 a pickle that would create a file",
        lambda _: planted,
        marker,
    )


def truncated_cifar(report: Report, work: Path) -> None:
    cifar_refusal(report, work, "truncated CIFAR file", "data_batch_1 cut to 5,000 bytes", lambda data: data[:5000])


def symlinked_class_folder(report: Report, work: Path) -> None:
    """`ln -s .. train/a/up` listed class b's images as a's too; `ln -s . train/a/self` each image
    ~41 times. Each must be one error line naming the link, exit 2, before any record."""
    import numpy as np

    for target, name in (("..", "up"), (".", "self")):
        root = write_images(
            work / f"linked-class-{name}", lambda rng: rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
        )
        link = root / "train" / "a" / name
        link.symlink_to(target, target_is_directory=True)
        results = work / f"linked-class-{name}-results"
        status, log = finish(cli(results, folder_run(root)))
        lines = error_lines(log)
        nothing = not (results / "runs").exists() or not list((results / "runs").iterdir())
        ok = status == 2 and len(lines) == 1 and str(link) in lines[0] and nothing
        report.add(
            "symlinked class folder",
            f"ln -s {target} train/a/{name}: exit {status}, {lines[0] if lines else '(no error line)'}",
            ok,
            "" if ok else log[-400:],
        )


def open_file_limit(report: Report, work: Path) -> None:
    """`ulimit -n 30` and 8 loader workers: they cannot all start. The run must end (it waited
    forever at exit for the workers torch lost), exit 1 with its record failed, and leave no process."""
    import resource

    results = work / "open-file-limit"
    process = start(
        [*SYNTHETIC, "data.num_workers=8"],
        results,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (30, 30)),
    )
    try:
        status, log = finish(process, timeout_s=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        report.add("open-file limit", "ulimit -n 30, 8 loader workers: hung after 180 s, killed", False)
        return
    time.sleep(0.5)
    left = session_members(process.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    record = the_record(results) or {}
    ok = status == 1 and record.get("status") == "failed" and not left
    report.add(
        "open-file limit",
        f"ulimit -n 30, 8 loader workers: exit {status}, record {record.get('status')}, "
        f"{len(left)} processes left behind",
        ok,
        "" if ok else log[-400:],
    )


def session_members(session: int) -> list[int]:
    """The live pids of session `session` (a process `start` made and the workers it forked), from /proc."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat_file.parent.name))
    return found


def markdown(report: Report, args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# Reliability",
        "",
        f"Generated by `python scripts/reliability.py --kills {args.kills} --seed {args.seed}"
        + (" --quick" if args.quick else "")
        + "` (`make reliability`) "
        f"in {seconds:.0f} s on a CPU. Each trial runs the real CLI on a small run "
        f"(`{' '.join(RUN + SYNTHETIC)}`) and checks its record against an uninterrupted run's "
        "(timing fields aside).",
        "",
        "| fault | trials | survived | lost |",
        "|---|---:|---:|---:|",
    ]
    names = list(dict.fromkeys(trial.name for trial in report.trials))
    for name in names:
        trials = [trial for trial in report.trials if trial.name == name]
        survived = sum(trial.survived for trial in trials)
        lines.append(f"| {name} | {len(trials)} | {survived} | {len(trials) - survived} |")
    lines += ["", "## Every trial", "", "| fault | what was done | outcome |", "|---|---|---|"]
    for trial in report.trials:
        lines.append(f"| {trial.name} | {trial.detail} | {'survived' if trial.survived else 'LOST: ' + trial.note} |")
    lines += [
        "",
        "Not injected here: CUDA out-of-memory (no GPU on this machine; `tests/test_train.py` raises it in "
        "the trainer and checks the advice recorded). The full-disk and read-only trials need a mount namespace "
        "(`unshare`)" + (": not run here: " + "; ".join(report.not_run) if report.not_run else "; all were run here."),
    ]
    if args.quick:
        lines += ["", "Left to their own tests by --quick: " + ", ".join(QUICK_LEAVES_OUT) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return run_child(sys.argv[3:], float(sys.argv[2]))
    if len(sys.argv) == 5 and sys.argv[1] == "--namespaced":  # one trial, inside a mount namespace of its own
        trial, work, out = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
        inner = Report(work=str(work))
        NAMESPACED[trial](inner, work)
        out.write_text(json.dumps([vars(trial_result) for trial_result in inner.trials]))
        return None
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--kills", type=int, default=12, help="SIGKILLs of the kill-anywhere trial (>= 10 for the report)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the test suite's run: every fault but those of QUICK_LEAVES_OUT, which tests of their own stage",
    )
    parser.add_argument("--out", type=Path, default=Path("results/reliability.md"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="senet-reliability-") as tmp:
        work = Path(tmp)
        report.work = tmp
        os.environ["SENET_ABLATE_CACHE_DIR"] = str(work / "cache")
        status, log = finish(cli(work / "reference"))
        if status != 0:
            sys.exit(f"the uninterrupted reference run failed (exit {status}):\n{log[-2000:]}")
        reference = outcome(the_record(work / "reference"))
        trials = {  # each fault as its report's table names it; in the order they run
            "kill anywhere": lambda: kill_anywhere(report, work, reference, args.kills, rng),
            "damaged checkpoint": lambda: damaged_checkpoints(report, work, reference, rng),
            "corrupt image": lambda: corrupt_images(report, work),
            "NaN/inf loss": lambda: divergence(report, work),
            "concurrent writers": lambda: concurrent_writers(report, work),
            "refused input": lambda: refusals(report, work),
            "stop signal to the group": lambda: stop_signals(report, work, reference, rng),
            "suspended claim": lambda: suspended_claim(report, work),
            "foreign claim": lambda: foreign_claims(report, work, reference),
            "full disk": lambda: namespaced(report, work, "full_disk"),
            "read-only results dir": lambda: namespaced(report, work, "read_only"),
            "shared results dir": lambda: shared_umask(report, work),
            "same-size images": lambda: same_size_images(report, work),
            "16-bit PNG": lambda: sixteen_bit_png(report, work),
            "one line for a mistake": lambda: one_line_mistakes(report, work),
            "report mistakes": lambda: report_mistakes(report, work),
            "copied record": lambda: copied_record(report, work),
            "record from another schema": lambda: other_schema(report, work),
            "bad predictions file": lambda: bad_predictions(report, work),
            "non-finite metric": lambda: non_finite_metric(report, work),
            "interpolation in a record": lambda: interpolation_in_record(report, work),
            "unsafe row label": lambda: unsafe_labels(report, work),
            "duplicate row labels": lambda: duplicate_labels(report, work),
            "results dir in the dataset": lambda: results_in_dataset(report, work),
            "seed out of range": lambda: seed_range(report, work),
            "300-character label": lambda: long_label(report, work),
            "non-UTF-8 data.root": lambda: non_utf8_root(report, work),
            "planted CIFAR pickle": lambda: planted_cifar(report, work),
            "truncated CIFAR file": lambda: truncated_cifar(report, work),
            "symlinked class folder": lambda: symlinked_class_folder(report, work),
            "other pid namespace": lambda: other_pid_namespace(report, work),
            "clock behind": lambda: clock_behind(report, work, reference),
            "requeue after a dead node": lambda: requeue_after_a_dead_node(report, work, reference),
            "broken sibling experiment": lambda: broken_siblings(report, work),
            "planted symlink": lambda: planted_symlinks(report, work),
            "two configs one log dir": lambda: two_configs_one_log_dir(report, work),
            "two umasks in a setgid dir": lambda: two_umasks_in_a_setgid_dir(report, work),
            "claim path is a dir": lambda: claim_path_is_a_dir(report, work),
            "planted checkpoint": lambda: planted_checkpoint(report, work, reference, rng),
            "open-file limit": lambda: open_file_limit(report, work),
        }
        for fault, trial in trials.items():
            if not (args.quick and fault in QUICK_LEAVES_OUT):
                trial()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(report, args, time.perf_counter() - started))
    print(args.out)
    lost = [trial for trial in report.trials if not trial.survived]
    for trial in lost:  # last, where a CI log's tail shows them
        print(f"LOST {trial.name}: {trial.detail} {trial.note[-500:]}", flush=True)
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
