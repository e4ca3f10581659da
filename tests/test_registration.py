"""`import hfvid` is cheap, yet the Auto classes, pipeline tasks and PEFT know hfvid's types whenever they are used.

Each scenario runs in a fresh interpreter: registration happens on import, which an in-process test cannot redo.
"""

import os
import subprocess
import sys
import textwrap

import pytest

CHECKS = """
from transformers import AutoConfig, AutoImageProcessor, AutoModelForPoseEstimation, pipeline
from transformers.pipelines import PIPELINE_REGISTRY
import peft.mapping
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING
config = AutoConfig.for_model("hfvid-subpixel-fan", num_stacks=1, hidden_size=32, hourglass_depth=2,
                              image_size=64, heatmap_size=16)
assert type(config).__name__ == "SubpixelFANConfig"
assert AutoModelForPoseEstimation.from_config(config).__class__.__name__ == "SubpixelFANForFacialLandmarkDetection"
assert IMAGE_PROCESSOR_MAPPING[type(config)]["pil"].__name__ == "SubpixelFANImageProcessor"
assert "hfvid-facial-landmarks" in PIPELINE_REGISTRY.get_supported_tasks()
assert "hfvid-zero-shot-image-classification" in PIPELINE_REGISTRY.get_supported_tasks()
assert "HFVID_BAYESIAN_PROMPT" in peft.mapping.PEFT_TYPE_TO_CONFIG_MAPPING
import hfvid.registration as registration
assert registration._done == {"auto", "pipelines", "peft"} and registration._finder is None
print("ok")
"""


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                            env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_is_light_and_registration_complete_on_first_use():
    out = run(textwrap.dedent("""
        import sys
        import hfvid
        heavy = sorted(m for m in ("torch", "transformers", "peft", "scipy", "torchvision") if m in sys.modules)
        print("heavy:", heavy)
        assert not any(name.startswith("hfvid.models") for name in sys.modules)
    """) + CHECKS)
    assert "heavy: []" in out and out.strip().endswith("ok")


@pytest.mark.slow
@pytest.mark.parametrize("first", [
    "from hfvid import SubpixelFANForFacialLandmarkDetection",  # an hfvid model module triggers the Auto classes
    "import hfvid.models.bayesian_prompt",  # an hfvid module triggers PEFT while it is half imported
    "from transformers import AutoModel, pipeline; import peft; import hfvid",  # all machinery imported before
    "import hfvid; hfvid.register_all()",
])
def test_registration_survives_any_import_order(first):
    assert run(first + "\n" + CHECKS).strip().endswith("ok")


def test_every_public_name_resolves_from_the_one_table():
    """``hfvid.<Name>`` is built from ``registration.public_names()``: each name is listed and imports as itself."""
    import hfvid
    from hfvid.registration import public_names

    names = public_names()
    assert set(hfvid.__all__) == {"__version__", "register_all", *names}
    assert set(hfvid.__all__) <= set(dir(hfvid))
    for name, module in names.items():
        value = getattr(hfvid, name)
        assert value.__name__ == name and value.__module__.startswith(module), (name, module, value)
    with pytest.raises(AttributeError, match="no_such_name"):
        hfvid.no_such_name


def test_public_names_refuse_one_name_from_two_modules(monkeypatch):
    from hfvid import registration

    twin = registration.Method(name="twin", title="t", paper="0", model_type="t", exports=("hfvid.hub:RESTConfig",))
    monkeypatch.setattr(registration, "METHODS", (*registration.METHODS, twin))
    with pytest.raises(ValueError, match="RESTConfig is named twice"):
        registration.public_names()
