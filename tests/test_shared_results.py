"""A results dir a team shares is other people's input: a link planted where a file of ours goes is
never written through, each run has a log folder of its own, users with different umasks share
the folders we make, and a folder where a claim goes is one line."""

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import SMALL, TINY
from omegaconf import OmegaConf

from senet_ablate.base.atomic import check_writable_dir
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import make_dirs, open_for_append
from senet_ablate.config import compose_config
from senet_ablate.data import dataset_fingerprint
from senet_ablate.engine.machine import for_device
from senet_ablate.records import claims
from senet_ablate.records.claims import Claim, claim_path, claim_run
from senet_ablate.records.store import new_record, record_path, run_id, write_record
from senet_ablate.report.tables import write_reports
from senet_ablate.runs.run_log import log_dir, run_log
from senet_ablate.runs.sweep_dir import SweepDir

PRECIOUS = "a file outside the results dir, which no run may change\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file of the user's outside the results dir, which a planted link points at."""
    target = tmp_path / "home" / ".bashrc"
    target.parent.mkdir()
    target.write_text(PRECIOUS)
    return target


def plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def is_plain_file(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def record(run: str = "abc") -> dict:
    return new_record(run_id=run, status="completed", config={}, seed=0, top1_err=50.0, env={})


# --- a planted link where a file of ours goes ---------------------------------------------


def test_atomic_file_replaces_a_planted_link_and_leaves_its_target_alone(tmp_path, outside):
    """Records, claims, checkpoints and tables all go through atomic_file: its rename replaces the link."""
    planted = plant(tmp_path / "runs" / "abc.json", outside)
    write_record(planted, record())
    assert outside.read_text() == PRECIOUS
    assert is_plain_file(planted) and json.loads(planted.read_text())["run_id"] == "abc"


def test_a_planted_link_at_a_claim_is_taken_over_not_written_through(tmp_path, outside, monkeypatch):
    monkeypatch.setattr(claims, "UNWRITTEN_GRACE_S", 0.0)  # the target is no claim: unreadable, so dead
    planted = plant(claim_path(tmp_path / "runs", "abc"), outside)
    claim = claim_run(tmp_path / "runs", "abc")
    assert isinstance(claim, Claim) and is_plain_file(planted)
    assert json.loads(planted.read_text())["token"] == claim.token
    claim.release()
    assert outside.read_text() == PRECIOUS and not planted.exists()


def test_links_planted_where_the_report_writes_its_tables_are_refused_or_replaced(tmp_path, outside):
    """A link to a file the report did not write is refused, as that file would be; one to a table it
    wrote elsewhere is replaced by the new table, and that table is left alone."""
    results, out = tmp_path / "results", tmp_path / "tables"
    write_record(record_path(results, "abc"), record())
    names = ("squeeze_sweep.md", "squeeze_sweep.json", "README.md")  # in the order the refusal names them
    planted = [plant(out / name, outside) for name in names]
    with pytest.raises(ConfigError, match=f"it holds {', '.join(names)}, which the report did not write"):
        write_reports(results, out, exps=["squeeze_sweep"])
    assert outside.read_text() == PRECIOUS and all(path.is_symlink() for path in planted)
    elsewhere = tmp_path / "elsewhere"
    write_reports(results, elsewhere, exps=["squeeze_sweep"])
    before = {name: (elsewhere / name).read_bytes() for name in names}
    for path in planted:
        path.unlink()
    planted = [plant(out / name, elsewhere / name) for name in names]
    write_reports(results, out, exps=["squeeze_sweep"])
    assert all(is_plain_file(path) for path in planted)
    assert all((elsewhere / name).read_bytes() == before[name] for name in names)
    assert "# squeeze_sweep\n" in (out / "squeeze_sweep.md").read_text()


def _cfg(tmp_path, *overrides):
    return compose_config([*TINY, *SMALL, f"results_dir={tmp_path / 'results'}", *overrides])


def test_a_runs_log_and_snapshot_replace_links_planted_at_their_names(tmp_path, outside):
    cfg = _cfg(tmp_path)
    folder = log_dir(cfg.results_dir, "abc")
    log_link, snapshot_link = plant(folder / "senet_ablate.log", outside), plant(folder / "config.yaml", outside)
    with run_log(cfg, "abc"):
        logging.getLogger("senet_ablate.test").warning("into the run's own log")
    assert outside.read_text() == PRECIOUS
    assert is_plain_file(log_link) and "into the run's own log" in log_link.read_text()
    assert is_plain_file(snapshot_link) and OmegaConf.create(snapshot_link.read_text()).model.name == "resnet20"


def test_a_fifo_or_a_hard_link_at_the_log_is_replaced_without_blocking(tmp_path, outside):
    os.mkfifo(tmp_path / "fifo")  # a write to a FIFO nobody reads would block the run for good
    os.link(outside, tmp_path / "hard")  # another name of the user's file
    for name in ("fifo", "hard"):
        with open_for_append(tmp_path / name) as log_file:
            log_file.write("ours\n")
        assert is_plain_file(tmp_path / name) and (tmp_path / name).read_text() == "ours\n"
    assert outside.read_text() == PRECIOUS


def test_a_link_planted_as_a_runs_log_folder_is_one_line(tmp_path):
    elsewhere = tmp_path / "victim"
    elsewhere.mkdir()
    cfg = _cfg(tmp_path)
    plant(log_dir(cfg.results_dir, "abc"), elsewhere)
    with pytest.raises(ConfigError, match=r"logs/abc is a symbolic link \(to .*victim\), where a folder of ours goes"):
        with run_log(cfg, "abc"):
            pass
    assert not list(elsewhere.iterdir())


def test_a_sweep_removes_a_link_planted_at_multirun_yaml_before_hydra_writes_it(tmp_path, outside):
    results = tmp_path / "results"
    planted = plant(results / "logs" / "squeeze_sweep" / "multirun.yaml", outside)
    config = OmegaConf.create({"results_dir": str(results), "hydra": {"sweep": {"dir": str(planted.parent)}}})
    SweepDir().on_multirun_start(config=config)
    assert not planted.exists() and not planted.is_symlink() and outside.read_text() == PRECIOUS


# --- a team's setgid results dir, two umasks ------------------------------------------------


@pytest.fixture
def team_dir(tmp_path):
    """A results dir as a team sets one up: setgid, group-writable."""
    results = tmp_path / "team"
    results.mkdir()
    results.chmod(0o2775)
    return results


def test_folders_made_in_a_setgid_results_dir_are_group_writable_whatever_the_umask(team_dir):
    old = os.umask(0o022)
    try:
        write_record(record_path(team_dir, "abc"), record())  # runs/, by atomic_file
        claim_run(team_dir / "runs" / "abc", "x").release()  # runs/abc/, by a claim
        make_dirs(team_dir / "logs" / "abc", below=team_dir)
        with open_for_append(team_dir / "logs" / "abc" / "senet_ablate.log") as log_file:
            log_file.write("ours\n")
    finally:
        os.umask(old)
    for folder in ("runs", "runs/abc", "logs", "logs/abc"):
        assert stat.S_IMODE((team_dir / folder).stat().st_mode) == 0o2775, folder
    assert stat.S_IMODE((team_dir / "logs" / "abc" / "senet_ablate.log").stat().st_mode) == 0o664


def test_outside_a_setgid_dir_the_umask_alone_decides(tmp_path):
    old = os.umask(0o022)
    try:
        write_record(record_path(tmp_path, "abc"), record())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o755


def _as_user(uid: int, gid: int, umask: int, work) -> int:
    """Run `work()` in a forked child as `uid` (primary group `gid`, plus the team's group 4242)
    with `umask`; its exit status: 0 if `work` returned, 1 with the error on stderr if it raised."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([4242])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(umask)
            work()
        except BaseException as error:  # noqa: BLE001 -- the child reports any error as its status
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="two users need root to become them")
@pytest.mark.slow  # forks processes
def test_two_users_with_umasks_022_and_002_share_a_setgid_results_dir(capfd):
    """Really two uids (forked children of a root test process) in a group's setgid folder."""
    base = Path(tempfile.mkdtemp(prefix="team-"))  # pytest's tmp_path is root's alone (0700)
    try:
        base.chmod(0o755)
        team = base / "results"
        team.mkdir()
        os.chown(team, 0, 4242)
        team.chmod(0o2775)
        log_file = team / "logs" / "abc" / "senet_ablate.log"

        def run(name: str) -> None:  # what a run writes: its log folder and log, its claim, its record
            make_dirs(log_file.parent, below=team)
            with open_for_append(log_file) as handle:
                handle.write(f"{name}\n")
            claim_run(team / "runs", f"run-of-{name}").release()
            write_record(record_path(team, f"run-of-{name}"), record(f"run-of-{name}"))

        assert _as_user(5001, 5001, 0o022, lambda: run("alice")) == 0, capfd.readouterr().err
        assert _as_user(5002, 5002, 0o002, lambda: run("bob")) == 0, capfd.readouterr().err
        assert log_file.read_text() == "alice\nbob\n"
        assert sorted(path.name for path in (team / "runs").glob("*.json")) == ["run-of-alice.json", "run-of-bob.json"]

        # a folder an older version made without group write: bob gets one line saying what to chmod
        (team / "runs").chmod(0o2755)
        capfd.readouterr()
        assert _as_user(5002, 5002, 0o002, lambda: check_writable_dir("results_dir", team / "runs")) == 1
        (err,) = capfd.readouterr().err.splitlines()
        assert err.startswith("ConfigError: results_dir=") and "cannot write there (Permission denied)" in err
        assert f"{team / 'runs'} belongs to uid 5001 with mode drwxr-sr-x: " in err
        assert f"its owner can run `chmod g+w {team / 'runs'}`" in err
    finally:
        shutil.rmtree(base)


# --- a folder where a claim goes ----------------------------------------------------------


def test_a_folder_where_a_claim_goes_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "UNWRITTEN_GRACE_S", 0.0)
    (tmp_path / "runs" / "abc.claim").mkdir(parents=True)
    with pytest.raises(ConfigError) as refused:
        claim_run(tmp_path / "runs", "abc")
    assert str(refused.value).count("\n") == 0
    assert f"{tmp_path / 'runs' / 'abc.claim'} is a folder, where the claim file of run abc goes" in str(refused.value)
    assert (tmp_path / "runs" / "abc.claim").is_dir()


# --- the real CLI -------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=300)


def _run_id(args: list[str]) -> str:
    """The id the CLI gives the run of `args` on this CPU (as run_job computes it)."""
    cfg = for_device(compose_config(args), "cpu")
    return run_id(cfg, dataset_fingerprint(cfg.data))


@pytest.mark.slow  # starts the CLI
def test_a_run_writes_through_no_link_planted_where_its_files_go(tmp_path, outside):
    results = tmp_path / "results"
    args = [*TINY, *SMALL, "trainer.epochs=1", f"results_dir={results}"]
    run = _run_id(args)
    planted = [
        results / "logs" / "resnet20-synthetic-seed0" / "senet_ablate.log",  # where Hydra wrote them
        results / "logs" / "resnet20-synthetic-seed0" / ".hydra" / "config.yaml",
        log_dir(results, run) / "senet_ablate.log",
        log_dir(results, run) / "config.yaml",
        record_path(results, run),
    ]
    for link in planted:
        plant(link, outside)
    result = _cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert outside.read_text() == PRECIOUS
    assert all(is_plain_file(path) for path in planted[2:])
    assert json.loads(record_path(results, run).read_text())["status"] == "completed"
    assert f"run {run}" in (log_dir(results, run) / "senet_ablate.log").read_text()


@pytest.mark.slow  # starts the CLI twice
def test_two_configs_of_one_model_data_and_seed_have_a_log_folder_each(tmp_path):
    results = tmp_path / "results"
    runs = {}
    for reduction in (8, 16):
        args = [*TINY, *SMALL, "trainer.epochs=1", f"se.reduction={reduction}", f"results_dir={results}"]
        result = _cli(*args)
        assert result.returncode == 0, result.stderr[-2000:]
        runs[reduction] = _run_id(args)
    assert sorted(path.name for path in (results / "logs").iterdir()) == sorted(runs.values())
    for reduction, run in runs.items():
        assert OmegaConf.load(log_dir(results, run) / "config.yaml").se.reduction == reduction
        log_text = (log_dir(results, run) / "senet_ablate.log").read_text()
        assert f"r={reduction}," in log_text and all(other not in log_text for other in runs.values() if other != run)
