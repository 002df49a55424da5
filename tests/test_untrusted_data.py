"""A shared results dir and data dir are other people's input: a planted checkpoint or CIFAR
batch runs no code, a damaged one is named in one line, a symbolic link in a class folder lists no
image twice, and a run whose loader workers fail to start (or whose shared memory is full) ends,
saying what failed, instead of hanging at exit.

Each planted pickle would create a file (`Planted`) if it were unpickled with pickle's defaults."""

import errno
import hashlib
import io
import logging
import multiprocessing
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SMALL, TINY, write_cifar, write_folder

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import build_loaders, dataset_fingerprint
from senet_ablate.data import fingerprint as fingerprint_module
from senet_ablate.data.cifar import cifar_datasets
from senet_ablate.data.imagefolder import list_splits
from senet_ablate.engine.checkpoint import MAGIC, load_checkpoint, previous_path, save_checkpoint
from senet_ablate.engine.trainer import Trainer, TrainStep
from senet_ablate.models.build import build_model
from senet_ablate.records.store import iter_records
from senet_ablate.runs.run import run_job

CPU = torch.device("cpu")
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


class Planted:
    """What a hostile group member pickles: unpickled with pickle's defaults, it creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def plant_checkpoint(path: Path, marker: Path) -> None:
    """A checkpoint file with a valid header and SHA-256 (anyone can compute one) around a pickle
    that would create `marker`."""
    buffer = io.BytesIO()
    torch.save({"model": Planted(marker), "history": []}, buffer)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)


# --- checkpoints ---------------------------------------------------------------------------


def test_a_planted_checkpoint_with_a_valid_digest_runs_no_code_and_is_named(tmp_path, caplog):
    path, marker = tmp_path / "checkpoint.pt", tmp_path / "planted"
    save_checkpoint(path, {"model": torch.nn.Linear(4, 3).state_dict(), "history": [{"epoch": 1}]})
    save_checkpoint(path, {"model": torch.nn.Linear(4, 3).state_dict(), "history": [{"epoch": 1}, {"epoch": 2}]})
    plant_checkpoint(path, marker)
    with caplog.at_level(logging.WARNING):
        state = load_checkpoint(path, CPU)
    assert not marker.exists()
    assert state["history"] == [{"epoch": 1}]  # the previous one
    (message,) = caplog.messages
    assert message.startswith(f"checkpoint {path} is damaged (refused by torch's safe unpickler")
    assert "it asks for " in message and message.endswith(f"falling back to {previous_path(path)}")


def _tiny_trainer(tmp_path: Path, *overrides: str) -> Trainer:
    cfg = compose_config([*TINY, *SMALL, f"results_dir={tmp_path}", "data.num_workers=0", *overrides])
    dist = DistributedContext()
    return Trainer(cfg, build_model(cfg), build_loaders(cfg, dist, CPU), CPU, dist, tmp_path / "checkpoint.pt")


def test_a_checkpoint_that_does_not_fit_the_run_is_damaged_and_leaves_the_run_as_it_was(tmp_path, caplog):
    """Another model's weights (a checkpoint planted or copied from another run): torch's
    load_state_dict raises after loading the weights that do fit, so every state is restored."""
    trainer = _tiny_trainer(tmp_path)
    other = _tiny_trainer(tmp_path / "other", "se.enabled=false")
    save_checkpoint(trainer.checkpoint_path, {**other.states(), "history": [], "partial_epoch": None})
    before = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    with caplog.at_level(logging.WARNING):
        assert trainer.resume() == ([], None)
    (message,) = caplog.messages
    assert message.startswith(f"checkpoint {trainer.checkpoint_path} is damaged (does not fit this run: RuntimeError")
    assert "\n" not in message and message.endswith("restarting from scratch")
    torch.testing.assert_close(trainer.model.state_dict(), before, rtol=0, atol=0)


@pytest.mark.parametrize(
    "state,why",
    [
        ([1, 2], "TypeError: it holds a list"),
        ({"history": []}, "KeyError: 'model'"),
        ({"history": "x", "partial_epoch": None}, "TypeError: its history is a str"),
        ({"history": [], "partial_epoch": {"step": 3}}, "TypeError: its partial epoch lacks"),
    ],
    ids=["not-a-dict", "no-model", "history-not-a-list", "partial-epoch-without-rng"],
)
def test_a_checkpoint_of_the_wrong_form_is_damaged(tmp_path, caplog, state, why):
    trainer = _tiny_trainer(tmp_path)
    if isinstance(state, dict) and "history" in state and "partial_epoch" in state:
        state = {**trainer.states(), **state}
    save_checkpoint(trainer.checkpoint_path, state)
    with caplog.at_level(logging.WARNING):
        assert trainer.resume() == ([], None)
    (message,) = caplog.messages
    assert f"is damaged (does not fit this run: {why}" in message


@pytest.mark.slow  # trains a run
def test_a_run_whose_newest_checkpoint_is_planted_resumes_from_the_previous_and_ends_as_uninterrupted(
    tmp_path, monkeypatch, caplog
):
    def cfg(results: Path):
        return compose_config([*TINY, *SMALL, "trainer.epochs=3", "data.num_workers=0", f"results_dir={results}"])

    uninterrupted = run_job(cfg(tmp_path / "whole"))
    real_save, saves = Trainer.save, []

    def save_then_die_at_epoch_2(self, history, partial=None):
        real_save(self, history, partial)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt  # killed right after epoch 2's checkpoint

    monkeypatch.setattr(Trainer, "save", save_then_die_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg(tmp_path / "planted"))
    monkeypatch.setattr(Trainer, "save", real_save)
    (newest,) = (tmp_path / "planted" / "runs").glob("*/checkpoint.pt")
    marker = tmp_path / "planted-marker"
    plant_checkpoint(newest, marker)
    with caplog.at_level(logging.WARNING):
        resumed = run_job(cfg(tmp_path / "planted"))
    assert not marker.exists()
    assert resumed["status"] == "completed"
    assert [m["val_loss"] for m in resumed["epochs"]] == [m["val_loss"] for m in uninterrupted["epochs"]]
    assert any(f"checkpoint {newest} is damaged (refused by torch's safe unpickler" in m for m in caplog.messages)


# --- CIFAR batches -------------------------------------------------------------------------


def _batch_file(root: Path, name: str = "data_batch_1") -> Path:
    return root / "cifar-10-batches-py" / name


def test_a_planted_cifar_batch_runs_no_code_and_is_refused_naming_it(tmp_path):
    root, marker = write_cifar(tmp_path / "data"), tmp_path / "planted"
    planted = _batch_file(root, "data_batch_3")
    planted.write_bytes(pickle.dumps({b"data": Planted(marker), b"labels": [0]}))
    with pytest.raises(ConfigError) as refused:
        cifar_datasets("cifar10", str(root), download=False)
    assert not marker.exists()
    message = str(refused.value)
    assert message.startswith(f"data.root='{root}' is not allowed: {planted} is not a cifar10 batch file")
    assert "it asks for pathlib.Path.touch" in message and "data.download=true" in message


def test_cifar_files_as_published_or_written_by_gpu_check_are_read_and_a_truncated_one_is_one_line(
    tmp_path, monkeypatch
):
    """The published files name numpy 1's `numpy.core` (numpy 2 renamed it `numpy._core`); a
    truncated file was an UnpicklingError traceback naming no file."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from gpu_check import write_cifar_batches

    write_cifar_batches(tmp_path / "gpu_check", per_file=3)
    train, test = cifar_datasets("cifar10", str(tmp_path / "gpu_check"), download=False)
    assert (len(train), len(test)) == (15, 3) and train.images.dtype == torch.uint8
    root = write_cifar(tmp_path / "old", images=4)
    expected = cifar_datasets("cifar10", str(root), download=False)[0].labels
    for protocol, path in enumerate(sorted((root / "cifar-10-batches-py").glob("data_batch_*"))):
        data = pickle.dumps(pickle.loads(path.read_bytes()), protocol=protocol)  # 0..4
        if protocol <= 3:  # GLOBAL names its module in plain text: numpy 1's name, as the published files
            data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        path.write_bytes(data)
    assert torch.equal(cifar_datasets("cifar10", str(root), download=False)[0].labels, expected)

    damaged = _batch_file(root, "test_batch")
    damaged.write_bytes(damaged.read_bytes()[:5000])
    with pytest.raises(ConfigError) as refused:
        cifar_datasets("cifar10", str(root), download=False)
    message = str(refused.value)
    assert message.startswith(f"data.root='{root}' is not allowed: {damaged} is not a cifar10 batch file (")
    assert message.endswith(f"(delete {damaged.parent} and run again with data.download=true)")
    assert "\n" not in message


BAD_BATCHES = {
    "not a dict": ([1, 2, 3], "not a dict with keys b'data' and b'labels'"),
    "float pixels": ({b"data": np.zeros((2, 3072)), b"labels": [0, 1]}, "not uint8 rows of 3072 pixels"),
    "rows of 1024": ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, "not uint8 rows of 3072"),
    "a label short": ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "not as many integer labels"),
    "label 10": ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels run from 0 to 10, outside 0..9"),
}


@pytest.mark.parametrize("name", BAD_BATCHES)
def test_a_batch_without_cifars_structure_is_refused_saying_why(tmp_path, name):
    batch, why = BAD_BATCHES[name]
    root = write_cifar(tmp_path)
    with open(_batch_file(root), "wb") as handle:
        pickle.dump(batch, handle)
    with pytest.raises(ConfigError) as refused:
        cifar_datasets("cifar10", str(root), download=False)
    assert "data_batch_1 is not a cifar10 batch file (" in str(refused.value) and why in str(refused.value)


@pytest.mark.slow  # starts the CLI
def test_the_cli_refuses_a_planted_cifar_batch_in_one_line_writing_nothing(tmp_path):
    root, marker, results = write_cifar(tmp_path / "data"), tmp_path / "planted", tmp_path / "results"
    planted = _batch_file(root)
    planted.write_bytes(pickle.dumps({b"data": Planted(marker), b"labels": [0]}))
    result = subprocess.run(
        [sys.executable, "-m", "senet_ablate", *TINY, "data=cifar10", f"data.root={root}", f"results_dir={results}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert not marker.exists()
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert f"{planted} is not a cifar10 batch file" in line and "Traceback" not in result.stderr
    assert not (results / "runs").exists() or not any((results / "runs").iterdir())


# --- symbolic links in class folders -------------------------------------------------------


def _folder(root: Path) -> str:
    fingerprint_module._folder_listed.cache_clear()
    return str(root)


@pytest.mark.parametrize("target", ["..", "."], ids=["up-to-the-split", "to-itself"])
def test_a_link_to_a_folder_inside_a_class_folder_is_refused_naming_it(tmp_path, target):
    """`ln -s .. train/cat/up` listed every dog as a cat too; `ln -s . train/cat/self` each cat ~41 times."""
    root = write_folder(tmp_path / "images")
    link = root / "train" / "cat" / "link"
    link.symlink_to(target, target_is_directory=True)
    data = compose_config(["data=imagefolder", f"data.root={root}", "data.num_classes=2"]).data
    for lister in (lambda: list_splits(_folder(root)), lambda: dataset_fingerprint(data)):
        with pytest.raises(ConfigError, match=f"{link} is a symbolic link to a folder \\({re.escape(target)}\\)"):
            lister()


def test_a_linked_image_is_listed_once_and_fingerprinted_as_a_copy_of_it(tmp_path):
    """Links to image files (a dataset assembled from another copy) are kept: the fingerprint is
    that of the same image copied in; a link that repeats an image of the split is refused."""
    outside = write_folder(tmp_path / "elsewhere", seed=1)
    copied, linked = write_folder(tmp_path / "copied"), write_folder(tmp_path / "linked")
    shutil.copy(outside / "train" / "dog" / "0.png", copied / "train" / "cat" / "extra.png")
    (linked / "train" / "cat" / "extra.png").symlink_to(outside / "train" / "dog" / "0.png")
    assert [len(split.samples) for split in list_splits(_folder(linked))] == [9, 8]
    data = [compose_config(["data=imagefolder", f"data.root={r}", "data.num_classes=2"]).data for r in (copied, linked)]
    assert dataset_fingerprint(data[0]) == dataset_fingerprint(data[1])
    repeated = linked / "train" / "cat" / "again.png"
    repeated.symlink_to(linked / "train" / "dog" / "1.png")
    with pytest.raises(ConfigError, match=re.escape(f"{linked / 'train' / 'dog' / '1.png'} are one file")):
        list_splits(_folder(linked))


# --- loader workers on the way out --------------------------------------------------------


def _session_processes(session: int) -> list[int]:
    """The live processes (not zombies) of session `session`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow  # starts the CLI and its loader workers
def test_workers_that_cannot_all_start_leave_no_process_behind_and_the_run_exits_failed(tmp_path):
    """The issue's case: `ulimit -n 30` and 8 workers. The record said failed, then the process
    waited forever at exit for the workers a half-started loader had lost (they ignore SIGTERM)."""
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "senet_ablate",
        *TINY,
        *SMALL,
        "trainer.epochs=1",
        "data.num_workers=8",
        f"results_dir={results}",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (30, 30)),
    )
    try:
        log, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the run hung on its way out (open-file limit 30, 8 loader workers)")
    time.sleep(0.5)  # the killed workers' exit is reaped by init
    left = _session_processes(process.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert process.returncode == 1, log[-3000:]
    (record,) = iter_records(results)
    assert record["status"] == "failed" and "Too many open files" in record["error"], log[-3000:]
    assert left == [], "loader workers outlived the run"


@pytest.mark.slow  # trains, with loader workers
def test_a_failed_run_stops_its_loader_workers_whoever_keeps_its_traceback(tmp_path, monkeypatch):
    """A failure's traceback holds the trainer, hence its loaders' persistent workers: whoever keeps
    it (a log handler, as pytest's does here; a debugger) kept the workers alive, and at exit
    multiprocessing waited for them forever."""

    def fails(self, images, targets, accumulate=1):
        raise RuntimeError("a bug in a training step")

    monkeypatch.setattr(TrainStep, "backward", fails)
    cfg = compose_config([*TINY, *SMALL, "trainer.epochs=1", "data.num_workers=2", f"results_dir={tmp_path}"])
    record = run_job(cfg)
    assert record["status"] == "failed" and "a bug in a training step" in record["error"]
    assert multiprocessing.active_children() == []


@pytest.mark.slow  # trains (fails at the first batch)
def test_full_shared_memory_is_named_not_blamed_on_the_results_dir(tmp_path, monkeypatch, caplog):
    """A full /dev/shm fails a loader's start with an OSError naming no file; the run blamed
    `results_dir/runs` for it."""

    def shared_memory_full(loader):
        raise OSError(errno.ENOSPC, "No space left on device")  # as SemLock's sem_open raises it

    monkeypatch.setattr(torch.utils.data.DataLoader, "__iter__", shared_memory_full)
    cfg = compose_config([*TINY, *SMALL, "trainer.epochs=1", "data.num_workers=0", f"results_dir={tmp_path}"])
    with caplog.at_level(logging.ERROR):
        record = run_job(cfg)
    assert record["status"] == "failed"
    (line,) = [m for m in caplog.messages if "No space left on device" in m]
    assert "/dev/shm" in line and "shared memory" in line and str(tmp_path) not in line
    assert record["error"].startswith("OSError: [Errno 28] No space left on device")
