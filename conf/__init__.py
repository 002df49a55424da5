"""The Hydra configs, installed as the package `senet_ablate.conf` (pyproject.toml maps this
directory into the package), so that a wheel or a non-editable install finds them."""
