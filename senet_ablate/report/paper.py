"""The paper's side of a table: its figures (`paper.yaml`), the recipe it trained them with, and
whether a section of our runs is in that setting, or exactly how it differs.

The paper's figures are shown beside ours only where every key of RECIPE_KEYS (dataset, model,
image size, epochs, schedule, lr, batch, label smoothing, `se.bias`) is the paper's: a name alone
does not make a setting.
"""

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf

from senet_ablate.config import compose_config

PAPER_YAML = Path(__file__).with_name("paper.yaml")
MEASURED = ("top1_err", "top5_err")

COMPLEXITY = ("params_m", "gflops")

# Paper tables laid out per architecture, vanilla beside SE (rows `X` and `SE-X`), and what they measure.
PAIRED = {
    "cifar": ("top1_err",),
    "imagenet": ("top1_err", "top5_err"),
    "mobile": ("top1_err", "top5_err"),
    "places365": ("top1_err", "top5_err"),
    "recipe": ("top1_err", "top5_err"),
    "cifar_recipe": ("top1_err",),
}

# The setting each paper table measured: its datasets and, for the ablation tables, its one model.
PAPER_DATASETS = {
    "cifar": ("cifar10", "cifar100"),
    "cifar_recipe": ("cifar10", "cifar100"),
    "places365": ("places365",),
}  # every other table: ImageNet

PAPER_RECIPE_ROWS = "+ paper recipe"  # how cifar_recipe_sweep labels the rows trained as the paper did

ABLATION_MODEL = "resnet50"  # the ablation tables' ResNet-50 (the paired tables set the model per row)

# What changes a result: a section shows the paper's figures only where all of these are the paper's.
RECIPE_KEYS = (
    "data.name",
    "model.name",
    "data.image_size",
    "trainer.epochs",
    "trainer.schedule",
    "trainer.lr",
    "trainer.batch_size",
    "trainer.label_smoothing",
    "se.bias",
)

RECIPE_SOURCES = {"se.bias": ", section 6"}  # where the paper says a value its tables do not print

PAPER_MODES = ("auto", "always")


@cache
def _paper() -> dict:
    return OmegaConf.to_container(OmegaConf.load(PAPER_YAML))


def paper_figures(table: str | None, data_name: str | None) -> dict[str, dict[str, float]]:
    """Row label -> the paper's figures for it; the CIFAR table is the one of the setting's dataset."""
    paper = _paper()
    if table == "cifar":
        entries = paper["cifar"].get(data_name, [])
        return {p + e["model"]: {"top1_err": e[k]} for e in entries for p, k in (("", "vanilla"), ("SE-", "se"))}
    if table == "cifar_recipe":  # the CIFAR table's figures, beside the rows of the paper's recipe only
        return {f"{label} {PAPER_RECIPE_ROWS}": figures for label, figures in paper_figures("cifar", data_name).items()}
    if table == "imagenet":
        variants = (("", "base"), ("SE-", "se"))
        figures = {
            p + e["model"]: dict(zip(("top1_err", "top5_err", "gflops"), e[k], strict=True))
            for e in paper["imagenet"]
            for p, k in variants
        }
        for entry in paper["imagenet_original"]:  # what the architecture's own paper reported
            figures[entry["model"]]["original"] = entry["err"]
        return figures
    if table == "places365":
        return {e["model"]: {key: e[key] for key in MEASURED} for e in paper["other_tasks"]["places365"]}
    if table == "mobile":  # base / se: [top-1 err, top-5 err, MFLOPs, params (M)]
        figures = {
            p + e["model"]: {"top1_err": top1, "top5_err": top5, "gflops": mflops / 1000, "params_m": params}
            for e in paper["mobile"]
            for p, (top1, top5, mflops, params) in (("", e["base"]), ("SE-", e["se"]))
        }
        for entry in paper["mobile"]:
            figures[entry["model"]]["original"] = entry["original"]
        return figures
    rows = _figures_table(table).get("rows", [])
    return {row["label"]: {key: row[key] for key in MEASURED + COMPLEXITY if key in row} for row in rows}


def _figures_table(table: str | None) -> dict:
    """A table of `ablations` (the SE paper's) or of `published` (other papers', with a `source`)."""
    paper = _paper()
    return paper["ablations"].get(table) or paper["published"].get(table) or {}


def complexity_notes(table: str | None) -> list[str]:
    """Where the paper counted a row's FLOPs by another convention than ours, and what that gives."""
    return _paper()["complexity_notes"].get(table, [])


def paper_has_table(table: str | None) -> bool:
    """Whether the SE paper, or a paper of `published`, prints the table: experiments beyond them
    (`mbconv`) have no paper figures."""
    return table in PAIRED or bool(_figures_table(table))


def paper_setting(table: str | None) -> tuple[tuple[str, ...], str | None]:
    """(datasets, model) of a paper table; model None where each row names its own."""
    return PAPER_DATASETS.get(table, ("imagenet",)), None if table in PAIRED else ABLATION_MODEL


def paper_recipe(name: str, table: str | None, searchpath: Sequence[str] = ()) -> dict:
    """What the paper trained `table` with, for each of RECIPE_KEYS: the experiment file's own
    defaults (its presets follow the paper's recipe), except `se.bias`, false in the ablation
    tables, whose section 6 says they were trained without SE FC biases."""
    cfg = compose_config([f"+exp={name}", *searchpath])
    recipe = {key: OmegaConf.select(cfg, key) for key in RECIPE_KEYS}
    recipe["se.bias"] = False if table in _paper().get("ablations", {}) else recipe.get("se.bias")
    return recipe


def recipe_differences(table: str | None, recipe: dict, identities: dict[str, dict], setting: dict) -> list[str]:
    """Each way a section's runs differ from the recipe the paper's figures come from ("key=ours
    (paper: theirs)"), over RECIPE_KEYS: anything that changes the result, not only names. `recipe`:
    the paper's (`paper_recipe`); `identities`: the rows' own keys (their `se.bias`)."""
    datasets, _ = paper_setting(table)
    differences = []
    if setting.get("data.name") not in datasets:
        differences.append(f"data.name={setting.get('data.name')} (paper: {' / '.join(datasets)})")
    for key, theirs in recipe.items():
        if key == "data.name" or key not in setting:  # a row's own key (model.name of a paired table)
            continue
        if setting[key] != theirs:
            differences.append(f"{key}={setting[key]} (paper: {theirs}{RECIPE_SOURCES.get(key, '')})")
    biases = {
        identity["se.bias"] for identity in identities.values() if identity.get("se.enabled") and "se.bias" in identity
    }
    theirs = recipe.get("se.bias")
    if theirs is not None and biases - {theirs}:  # rows that set se.bias themselves
        differences.append(f"se.bias={sorted(biases)[-1]} (paper: {theirs}{RECIPE_SOURCES['se.bias']})")
    return differences


def paper_note(table: str | None, differences: list[str], shown: bool) -> str:
    if not paper_has_table(table):
        return f"paper figures: none, no paper prints a table `{table}`"
    datasets, model = paper_setting(table)
    theirs = " / ".join(datasets) + ("" if model is None else f" with {model}")
    source = _figures_table(table).get("source")
    if shown:
        also = f" (though this section differs in {', '.join(differences)})" if differences else ""
        return f"paper figures: table `{table}`, measured on {theirs}{also}" + (f"; source: {source}" if source else "")
    return (
        f"paper figures: not shown, this section's recipe differs from the paper's in {', '.join(differences)} "
        "(`paper=always` shows them anyway)"
    )
