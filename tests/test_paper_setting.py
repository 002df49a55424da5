"""`+exp=<table>` alone is the paper's setting: what the experiment file composes is what the paper
trained, so its report shows the paper's figures with no difference listed."""

import pytest
from omegaconf import OmegaConf

from senet_ablate.config import compose_config
from senet_ablate.report.experiments import experiment_names, load_experiment
from senet_ablate.report.paper import PAPER_YAML, paper_has_table, recipe_differences

ABLATIONS = [name for name in experiment_names() if load_experiment(name).table in OmegaConf.load(PAPER_YAML).ablations]


def test_every_ablation_table_has_its_experiment_file():
    assert sorted(ABLATIONS) == [
        "gate_sweep",
        "integration_sweep",
        "nosqueeze_sweep",
        "reduction_sweep",
        "se3x3_sweep",
        "squeeze_sweep",
        "stage_sweep",
    ]


@pytest.mark.parametrize("name", ABLATIONS)
def test_an_ablation_file_composes_the_papers_section_6_recipe(name):
    """Checked against the recipe the paper states (paper.yaml's `training_recipe`), and by the
    report's own comparison with it: no difference listed, the paper's figures shown."""
    stated = OmegaConf.load(PAPER_YAML).training_recipe.imagenet_ablation
    cfg = compose_config([f"+exp={name}"])
    assert cfg.se.bias is stated.se_fc_bias is False  # "removing the biases of the FC layers"
    assert (cfg.trainer.lr, cfg.trainer.schedule, cfg.trainer.epochs) == (stated.lr, "plateau", 300)
    assert cfg.trainer.label_smoothing > 0 and stated.label_smoothing
    assert (cfg.data.name, cfg.model.name, cfg.data.image_size) == ("imagenet", "resnet50", 224)
    experiment = load_experiment(name)
    assert paper_has_table(experiment.table)
    assert (
        recipe_differences(experiment.table, experiment.paper_recipe, experiment.identities, experiment.defaults) == []
    )
