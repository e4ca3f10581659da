"""Model folders hold model code only: nothing under ``hfvid/models`` runs recipes, pipelines or training scripts.

Read from the source (the ast of every file), so an import hidden inside a function counts as much as one at the top.
"""

import ast
from pathlib import Path

import pytest

import hfvid

PACKAGE = Path(hfvid.__file__).resolve().parent
MODEL_FILES = sorted((PACKAGE / "models").rglob("*.py"))
# what model code must not import: the quickstart recipes, the transformers pipelines, the training scripts
FORBIDDEN = ("hfvid.quickstart", "hfvid.pipelines", "training_scripts")
# the one model-folder module allowed to import diffusers: GANnotation's DiffusionPipeline lives beside its model
DIFFUSERS_ALLOWED = {"models/gannotation/pipeline_gannotation.py"}


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against its package)."""
    package = ["hfvid", *path.relative_to(PACKAGE).parent.parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_imported_modules_resolves_relative_imports():
    source = PACKAGE / "models" / "gannotation" / "pipeline_gannotation.py"
    names = imported_modules(source)
    assert "diffusers" in names and "hfvid.models.gannotation.modeling_gannotation" in names


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_model_code_imports_no_recipe_pipeline_or_training_script(path):
    names = imported_modules(path)
    bad = [name for name in names if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}: model folders hold model code only"
    if str(path.relative_to(PACKAGE)) not in DIFFUSERS_ALLOWED:
        assert not [n for n in names if n.split(".")[0] == "diffusers"], f"{path} imports diffusers"


def test_every_model_folder_is_checked():
    assert len(MODEL_FILES) > 50 and not list((PACKAGE / "models").glob("*/quickstart.py"))
