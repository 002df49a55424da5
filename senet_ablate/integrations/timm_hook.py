"""Mirror our models into timm's registry as soon as timm is imported, without importing it ourselves.

Importing timm costs 1-2 s, which every command-line start (and every job of a sweep) would pay
without using it. So `import senet_ablate` registers at once only if timm is already imported, and
otherwise leaves a one-shot import hook that registers right after `import timm` has run: either
way `timm.create_model("senet_ablate_resnet50")` works once both are imported, in any order.
"""

import importlib.abc
import importlib.util
import sys


def _register() -> None:
    from senet_ablate.integrations.timm_models import register_with_timm  # imports timm

    register_with_timm()


class _RegisterAfterTimmImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "timm":
            return None
        sys.meta_path.remove(self)  # one shot, and out of the way of the real lookup below
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module) -> None:
            run_module(module)
            _register()

        spec.loader.exec_module = exec_module
        return spec


def register_with_timm_when_imported() -> None:
    if "timm" in sys.modules:
        _register()
    elif not any(isinstance(finder, _RegisterAfterTimmImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterTimmImport())
