"""Every shell command in the README and the docs pages runs, so the docs cannot drift from the code.

The convention (docs/development.md, "Commands in the docs"):
- a fenced block whose info string is `bash`, in README.md or docs/**/*.md, is a command to run;
  other info strings (`text`, `console`, `yaml`, `python`) are not run;
- `<!-- ci: skip: <reason> -->` on a line directly before a block: not run, for the reason given
  (a missing reason fails);
- `<!-- ci: replace "<old>" "<new>" -->` lines directly before a block: each substitutes text
  before the block runs (generated data for a real dataset, a smaller sweep); an <old> not in the
  block fails, so a replace cannot silently stop applying;
- the blocks of one page run in order in one fresh folder per page (a later block may use an
  earlier block's results), under `bash` with `set -euo pipefail`, `python` being the test's own
  interpreter, OMP_NUM_THREADS=1; `make` runs a copy of the repository's Makefile placed in that
  folder with PYTHON set to the same interpreter. Each block must exit 0.

The non-slow test checks the convention on every page without running anything; the slow test,
one per page, runs the page's commands.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^<!--\s*ci:(.*?)-->\s*$")
SKIP = re.compile(r"^\s*skip:(.*)$", re.DOTALL)
QUOTED = r'"((?:[^"\\]|\\.)*)"'
REPLACE = re.compile(rf"^\s*replace\s+{QUOTED}\s+{QUOTED}\s*$")
BLOCK_TIMEOUT_S = 300


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    directives: list[str] = field(default_factory=list)  # the `ci:` comments directly before it

    @property
    def runs(self) -> bool:
        return self.info == "bash"

    def skip_reason(self) -> str | None:
        """The reason of a `ci: skip:` directive ('' when it gives none), or None if there is none."""
        for directive in self.directives:
            skip = SKIP.match(directive)
            if skip:
                return skip.group(1).strip()
        return None

    def replaces(self) -> list[tuple[str, str]]:
        pairs = []
        for directive in self.directives:
            match = REPLACE.match(directive)
            if match:
                pairs.append(tuple(re.sub(r"\\(.)", r"\1", group) for group in match.groups()))
        return pairs

    def problems(self) -> list[str]:
        """What breaks the convention in this block's directives."""
        where = f"{self.page}:{self.line}"
        found = [
            f"{where}: unknown ci directive {directive.strip()!r}"
            for directive in self.directives
            if not SKIP.match(directive) and not REPLACE.match(directive)
        ]
        if self.directives and not self.runs:
            found.append(f"{where}: ci directives before a `{self.info}` block, which is never run")
        if self.skip_reason() == "":
            found.append(f"{where}: `ci: skip:` without a reason")
        for old, _ in self.replaces():
            if old not in self.text:
                found.append(f"{where}: replace {old!r}: not in the block")
        return found

    def command(self) -> str:
        text = self.text
        for old, new in self.replaces():
            text = text.replace(old, new)
        return text


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a markdown page, each with the `ci:` comment lines directly before it."""
    lines = page.read_text().splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, start = opening.group(1), index
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith(fence)), len(lines))
        directives, before = [], start - 1
        while before >= 0 and DIRECTIVE.match(lines[before]):
            directives.insert(0, DIRECTIVE.match(lines[before]).group(1))
            before -= 1
        text = "\n".join(lines[start + 1 : end]) + "\n"
        found.append(Block(page_id(page), start + 1, opening.group(2), text, directives))
        index = end + 1
    return found


def test_blocks_are_found_with_their_directives(tmp_path):
    """The parser itself, on a page whose answer is known."""
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n"
        "<!-- ci: skip: needs a GPU -->\n"
        "```bash\nnvidia-smi\n```\n"
        '<!-- ci: replace "data=cifar10" "data=synthetic" -->\n'
        '<!-- ci: replace "a \\"b\\"" "c" -->\n'
        '```bash\npython -m x data=cifar10 a "b"\n```\n'
        "```text\nnot run\n```\n"
        "<!-- ci: skip: -->\n"
        "```bash\necho\n```\n"
    )
    found = blocks(page)
    assert [(b.line, b.info, b.runs) for b in found] == [
        (3, "bash", True),
        (8, "bash", True),
        (11, "text", False),
        (15, "bash", True),
    ]
    assert found[0].skip_reason() == "needs a GPU"
    assert found[1].replaces() == [("data=cifar10", "data=synthetic"), ('a "b"', "c")]
    assert found[1].command() == "python -m x data=synthetic c\n"
    assert found[1].problems() == []
    assert found[3].problems() == [f"{found[3].page}:15: `ci: skip:` without a reason"]
    found[1].directives.append(' replace "cifar100" "x" ')
    assert found[1].problems() == [f"{found[1].page}:8: replace 'cifar100': not in the block"]


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_every_block_is_run_or_skipped_with_a_reason(page):
    """The convention holds on every page: each skip has a reason, each replace applies, no directive
    is unknown or sits before a block that is never run."""
    problems = [problem for block in blocks(page) for problem in block.problems()]
    assert not problems, "\n".join(problems)


def command_pages() -> list[Path]:
    return [page for page in pages() if any(block.runs for block in blocks(page))]


@pytest.mark.slow
@pytest.mark.parametrize("page", command_pages(), ids=page_id)
def test_page_commands_run(page, tmp_path):
    """The page's commands, in order, in one fresh folder; each must exit 0. The skipped blocks are
    named with their reasons (the skip message where the page has nothing else, else printed)."""
    skipped = [f"line {b.line}: {b.skip_reason()}" for b in blocks(page) if b.runs and b.skip_reason() is not None]
    if not any(block.runs and block.skip_reason() is None for block in blocks(page)):
        pytest.skip("every command is marked not runnable in CI: " + "; ".join(skipped))
    for reason in skipped:
        print(f"{page_id(page)} {reason} (ci: skip)")
    shutil.copyfile(ROOT / "Makefile", tmp_path / "Makefile")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
    }
    for block in blocks(page):
        if not block.runs or block.skip_reason() is not None:
            continue
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block.command()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        assert done.returncode == 0, (
            f"{block.page}:{block.line} exited {done.returncode}\n$ {block.command()}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
