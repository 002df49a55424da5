"""Which process wrote a claim, told apart from every other process that writes into a shared
results dir, and what this process can prove about it from where it runs.

A hostname and a pid name a process only within one pid namespace of one boot: containers and some
SLURM setups run several pid namespaces under one hostname, and a pid is reused once its process
has ended. So a claim also records (`identity`):
- `boot_id`: the kernel's boot id (/proc/sys/kernel/random/boot_id), shared by every container of
  one machine and new at each boot. The same boot id means the same kernel, hence the same wall
  clock: only then does the age of a heartbeat, by our clock, mean anything.
- `pid_ns`: the pid namespace (the link /proc/self/ns/pid, e.g. `pid:[4026531836]`), unique within a
  boot. Only within our own boot and namespace does the claim's pid name a process we can see.
- `start_ticks`: the process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot),
  so that a pid reused by a later process is not taken for the claimant.
Where there is no /proc (macOS), or in a claim written by an older version, these are missing,
and nothing is proven by a pid.
"""

import os
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_stat(pid: int | str) -> tuple[str, int] | None:
    """(state, start ticks) of process `pid` ('self': this one) from /proc/<pid>/stat, or None if
    it cannot be read (no such process, no /proc, or /proc mounted with hidepid)."""
    try:
        # the command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime)
    except (OSError, IndexError, ValueError):
        return None


def identity() -> dict:
    """What a claim records of this process beyond its host and pid (see the module's docstring)."""
    stat = process_stat("self")
    return {"boot_id": boot_id(), "pid_ns": pid_namespace(), "start_ticks": stat[1] if stat else None}


def shares_our_clock(holder: dict) -> bool:
    """Whether the claim was written under this machine's kernel (this boot): the same wall clock."""
    ours = boot_id()
    return ours is not None and holder.get("boot_id") == ours


def shares_our_pids(holder: dict) -> bool:
    """Whether the claim's pid names a process in our own pid namespace of this boot."""
    ours = pid_namespace()
    return shares_our_clock(holder) and ours is not None and holder.get("pid_ns") == ours


def process_verdict(holder: dict) -> tuple[bool | None, str]:
    """(True, why) if the claim's process provably runs, (False, why) if it provably does not,
    (None, why) if that cannot be told from here (another machine or pid namespace, an older
    version's claim): `why` says which."""
    if not shares_our_pids(holder):
        if holder.get("boot_id") is None:
            return None, "a claim without a boot id (an older version's, or from a machine without /proc)"
        if not shares_our_clock(holder):
            return None, "on another machine (another boot id)"
        return None, "in another pid namespace of this machine (a container)"
    pid = holder["pid"]
    if pid <= 0:
        return False, f"pid {pid} names no process"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, "no such process in its pid namespace, here"
    except PermissionError:  # another user's process: alive
        pass
    stat = process_stat(pid)
    if stat is None:  # it exists (kill said so) but /proc hides it: its start time cannot be checked
        return True, f"pid {pid} runs here"
    state, start = stat
    if state == "Z":
        return False, f"pid {pid} has exited (a zombie)"
    if holder.get("start_ticks") is not None and start != holder["start_ticks"]:
        return False, f"pid {pid} now belongs to another process (started at another time)"
    return True, f"pid {pid} runs here"
