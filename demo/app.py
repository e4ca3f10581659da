"""hfvid demo as a Hugging Face Space: one tab per method, drawn results and the pipelines' JSON, on the CPU.

Which models it serves (first match wins):
  * ``HFVID_MODELS="subpixel_fan=org/repo gannotation=./gannotation ..."``: one folder or Hub id per method;
  * ``HFVID_MODEL=path-or-hub-id``: one model folder or Hub id, or a folder of them (a `hfvid quickstart` output);
  * ``./models`` beside this file (copy a `hfvid quickstart` output folder there).
Locally, ``hfvid demo --model hfvid-quickstart`` starts the same app.
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from hfvid.demo import build_demo, resolve_models  # noqa: E402

models = os.environ.get("HFVID_MODELS", "").split()
model = os.environ.get("HFVID_MODEL") or (None if models else str(Path(__file__).parent / "models"))
demo = build_demo(resolve_models(model, models), device=os.environ.get("HFVID_DEVICE", "cpu"))

if __name__ == "__main__":
    demo.launch()
