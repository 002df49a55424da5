"""Write docs/reference.md, the configuration reference, from the code itself.

Every key comes from the schema's dataclasses (`senet_ablate/config/schema.py`) with its type, the
default a bare command line composes (`compose_config([])`, interpolations shown unresolved) and the
comment written beside it in the schema, which is where each key is documented; the allowed names
come from the same tuples and registries the config checks read (`MODELS`, `DATASETS`, `ATTENTION`,
`supported_positions`, the schema's and the data registry's tuples); the `trainer=`, `logger=`,
`+exp=` and `hydra/launcher=` options are the YAML files under conf/ with their own first comment.
`tests/test_config_reference.py` fails when the checked-in page differs from what this writes, so
the page cannot drift from the code.

    python scripts/config_reference.py            # writes docs/reference.md
    python scripts/config_reference.py --check    # exit status 1 if the page is out of date
"""

import argparse
import dataclasses
import inspect
import re
import sys
import types
from pathlib import Path

from omegaconf import MISSING, OmegaConf

from senet_ablate.attention import ATTENTION
from senet_ablate.config import compose_config, schema
from senet_ablate.config.compose import CONFIG_DIR
from senet_ablate.data import DATASETS
from senet_ablate.data.registry import AUGMENTS, LOADERS
from senet_ablate.models import MODELS
from senet_ablate.models.registry import supported_positions

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def allowed_values() -> dict[str, tuple]:
    """The keys whose value is one of a list, with the list the config checks hold it to."""
    return {
        "model.name": tuple(sorted(MODELS)),
        "data.name": tuple(sorted(DATASETS)),
        "data.augment": AUGMENTS,
        "data.loader": LOADERS,
        "attention": tuple(sorted(ATTENTION)),
        "se.squeeze": schema.SQUEEZES,
        "se.gate": schema.GATES,
        "se.position": tuple(supported_positions()),
        "trainer.schedule": schema.SCHEDULES,
        "trainer.device": schema.DEVICES,
        "trainer.amp_dtype": schema.AMP_DTYPES,
        "trainer.loss": schema.LOSSES,
        "trainer.interpolation": schema.INTERPOLATIONS,
        "logger.name": schema.LOGGERS,
        "logger.mode": schema.WANDB_MODES,
    }


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the dataclass's source: the comment lines just above it and the one
    at its end, joined."""
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = re.match(r"(\w+):[^#]*(?:#\s?(.*))?$", stripped)
        if match:
            comments[match.group(1)] = " ".join([*above, match.group(2) or ""]).strip()
        above = []
    return comments


def type_name(annotation) -> str:
    if isinstance(annotation, types.UnionType):
        return " | ".join(type_name(arg) for arg in annotation.__args__).replace("NoneType", "null")
    if annotation is type(None):
        return "null"
    if getattr(annotation, "__args__", None):  # list[str], list[RowConfig]
        return f"{annotation.__origin__.__name__}[{', '.join(type_name(arg) for arg in annotation.__args__)}]"
    return "any" if annotation is object or str(annotation) == "typing.Any" else annotation.__name__


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def code(value) -> str:
    if value is MISSING or value == "???":
        return "(set by `data=`)"
    if value == "":
        return "(none)"
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text}`"


def key_rows(cls: type, prefix: str, defaults: dict) -> list[str]:
    """One table row per leaf key of `cls` (nested dataclasses become sections of their own)."""
    comments, allowed, rows = field_comments(cls), allowed_values(), []
    for item in dataclasses.fields(cls):
        key = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(item.type):
            continue  # a group: a section of its own
        values = ", ".join(f"`{value}`" for value in allowed[key]) if key in allowed else ""
        rows.append(
            f"| `{key}` | {cell(type_name(item.type))} | {cell(code(defaults.get(item.name)))} | {cell(values)} "
            f"| {cell(comments.get(item.name, ''))} |"
        )
    return rows


def first_comment(path: Path) -> str:
    """The opening comment lines of a YAML file (its `# @package` line left out), joined."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.lstrip("# ").strip())
    return " ".join(lines)


def group_options(group: str) -> list[str]:
    return [f"| `{path.stem}` | {cell(first_comment(path))} |" for path in sorted((CONFIG_DIR / group).glob("*.yaml"))]


def experiment_options() -> list[str]:
    """Each experiment file with its paper table, reference row and rows, as composed."""
    rows = []
    for path in sorted((CONFIG_DIR / "exp").glob("*.yaml")):
        exp = compose_config([f"+exp={path.stem}"]).exp
        labels = ", ".join(f"`{row.label}`" for row in exp.rows)
        rows.append(f"| `{path.stem}` | {cell(first_comment(path))} | `{exp.table}` | `{exp.reference}` | {labels} |")
    return rows


KEYS_HEADER = ["| key | type | default | allowed | what it does |", "|---|---|---|---|---|"]


def render() -> str:
    """The whole page."""
    composed = OmegaConf.to_container(compose_config([]), resolve=False)
    out = [
        "<!-- Generated by `python scripts/config_reference.py` from the schema and the registries: do not edit. -->",
        "# Configuration reference",
        "",
        "Every key a command line can set, as `key=value` (Hydra's override grammar), with its type, the default",
        "a bare `python -m senet_ablate` composes (`conf/config.yaml`: `model=resnet50 data=imagenet",
        "trainer=imagenet_paper logger=none`; a `${...}` is shown as written, see it resolved with",
        "`python -m senet_ablate --cfg job`), the values it allows and what it does. A `data=` or `trainer=`",
        "option changes several defaults at once: see the options further down. Bad values stop a command",
        "with one line naming the key, the value and what is allowed (exit status 2), before anything runs.",
        "",
        "This page is generated from the code (`python scripts/config_reference.py`);",
        "`tests/test_config_reference.py` fails when it is out of date.",
        "",
        "## Top-level keys",
        "",
        *KEYS_HEADER,
        *key_rows(schema.Config, "", composed),
    ]
    for group in dataclasses.fields(schema.Config):  # every group of keys, in the schema's order
        if dataclasses.is_dataclass(group.type) and group.name != "exp":
            rows = key_rows(group.type, f"{group.name}.", composed[group.name])
            out += ["", f"## `{group.name}.*`", "", *KEYS_HEADER, *rows]
    out += [
        "",
        "## `exp.*`: experiment files",
        "",
        "Set by an experiment file (`+exp=<name>`, below); `exp.row=<label>[,<label>...]` runs some of its rows.",
        "",
        *KEYS_HEADER,
        *key_rows(schema.ExpConfig, "exp.", composed["exp"]),
        "",
        "## `model=` options",
        "",
        "| `model=` | input | SE stages | `se.position` values | default `stride_in_1x1` | min `data.image_size` |",
        "|---|---|---|---|---|---:|",
    ]
    for name, spec in sorted(MODELS.items()):
        out.append(
            f"| `{name}` | {spec.family} | {', '.join(map(str, spec.stages))} | "
            f"{', '.join(f'`{position}`' for position in spec.positions)} | {code(spec.stride_in_1x1)} "
            f"| {spec.min_image_size} |"
        )
    out += [
        "",
        "## `data=` options",
        "",
        "| `data=` | classes | `data.image_size` | `data.augment` (first: default) | `data.loader` besides `auto` "
        "| `data.root` | download | keys of its own |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for name, spec in sorted(DATASETS.items()):
        classes = "`data.num_classes`" if spec.num_classes is None else str(spec.num_classes)
        out.append(
            f"| `{name}` | {classes} | {spec.image_size} | {', '.join(f'`{a}`' for a in spec.augments)} | "
            f"{', '.join(f'`{loader}`' for loader in spec.loaders)} | `{spec.root}` | "
            f"{'yes' if spec.downloadable else 'no'} | {', '.join(f'`data.{key}`' for key in spec.own_keys)} |"
        )
    out += [
        "",
        "## `attention=` options",
        "",
        "Placed by the same `se.enabled`, `se.position` and `se.stages` keys.",
        "",
        "| `attention=` | block | its arguments, from the config keys |",
        "|---|---|---|",
    ]
    for name, block in sorted(ATTENTION.items()):
        reads = ", ".join(f"`{argument}` from `{key}`" for argument, key in block.reads.items())
        out.append(f"| `{name}` | `{block.module.__module__}.{block.module.__qualname__}` | {reads} |")
    for group, title in (
        ("trainer", "`trainer=` options (conf/trainer/)"),
        ("logger", "`logger=` options (conf/logger/)"),
        ("hydra/launcher", "`hydra/launcher=` options (conf/hydra/launcher/)"),
    ):
        out += ["", f"## {title}", "", "| option | what it is |", "|---|---|", *group_options(group)]
    out += [
        "",
        "## `+exp=` experiment files (conf/exp/)",
        "",
        "Each runs its rows as one sweep (`python -m senet_ablate +exp=<name>`); a file of a paper table carries the "
        "paper's setting for it.",
        "",
        "| `+exp=` | what it is | `exp.table` | `exp.reference` | rows |",
        "|---|---|---|---|---|",
        *experiment_options(),
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit status 1 if the page differs, write nothing")
    parser.add_argument("--out", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        if not args.out.is_file() or args.out.read_text() != page:
            print(f"{args.out} is out of date: run python scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(page)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
