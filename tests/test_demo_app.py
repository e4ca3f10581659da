"""The Gradio demo: model resolution, the tab functions, and a real headless browser (Playwright driving Debian's
Chromium) that uploads an image and a video, presses Run and sees the drawn results and the JSON.

The browser test skips with a message when gradio, playwright or /usr/bin/chromium is missing
(`apt-get install -y chromium`; Playwright's own browser download is not used).
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.data.synthetic import synthetic_faces

CHROMIUM = os.environ.get("HFVID_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def fan_folder(tmp_path_factory):
    """A quickstart output folder: SH-FAN trained by its `hfvid quickstart` recipe (3 steps, ~4 s) in
    <root>/subpixel_fan/, beside a tiny random BMViT in <root>/bmvit/ (its recipe takes ~20 s)."""
    from hfvid.quickstart import run_quickstart

    root = tmp_path_factory.mktemp("quickstart")
    (row,) = run_quickstart(["subpixel_fan"], str(root), steps=3)
    assert row.picture and Path(row.picture).is_file()
    _save_tiny_bmvit(root / "bmvit")
    return root


def test_resolve_models_reads_quickstart_folders_and_method_overrides(fan_folder, tmp_path):
    from hfvid.demo import resolve_models

    assert resolve_models(fan_folder) == {"subpixel_fan": str(fan_folder / "subpixel_fan"),
                                          "bmvit": str(fan_folder / "bmvit")}
    assert resolve_models(fan_folder / "subpixel_fan") == {"subpixel_fan": str(fan_folder / "subpixel_fan")}
    assert resolve_models(None, ["gannotation=some/hub-id"]) == {"gannotation": "some/hub-id"}
    with pytest.raises(ValueError, match="neither an hfvid model folder"):
        resolve_models(tmp_path)
    with pytest.raises(ValueError, match="METHOD=PATH"):
        resolve_models(None, ["subpixel_fan"])
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        resolve_models(None, ["nope=x"])


def test_cli_demo_reports_bad_model_arguments(tmp_path, capsys):
    from hfvid.cli import main

    assert main(["demo", "--models", "subpixel_fan"]) == 2
    assert "METHOD=PATH" in capsys.readouterr().err
    assert main(["demo", "--model", str(tmp_path)]) == 2  # an empty folder: no hfvid model in it
    assert "neither an hfvid model folder" in capsys.readouterr().err


def test_space_app_builds_from_the_environment(fan_folder, monkeypatch):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'hfvid[demo]')")
    import runpy

    monkeypatch.setenv("HFVID_MODEL", str(fan_folder))
    app = Path(__file__).resolve().parents[1] / "demo" / "app.py"
    namespace = runpy.run_path(str(app))  # builds, does not launch (not __main__)
    assert type(namespace["demo"]).__name__ == "Blocks"
    monkeypatch.setenv("HFVID_MODEL", str(fan_folder / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        runpy.run_path(str(app))


def test_run_image_draws_landmarks_and_returns_the_pipeline_json(fan_folder):
    from hfvid.demo import _Runner, run_image

    face = synthetic_faces(1, image_size=128, seed=3)[0]
    image = Image.fromarray(face["image"])
    drawn, result = run_image(_Runner("subpixel_fan", str(fan_folder / "subpixel_fan"), "cpu"), image,
                              ", ".join(str(v) for v in face["box"].tolist()), "mtcnn")
    assert len(result) == 1 and len(result[0]["landmarks"]) == 68
    json.dumps(result)  # strict JSON for the UI
    assert np.any(np.asarray(drawn) != np.asarray(image))
    for bad in ("1, 2", "1, 2, x, 4"):
        with pytest.raises(ValueError, match="4 numbers"):
            run_image(_Runner("subpixel_fan", str(fan_folder / "subpixel_fan"), "cpu"), image, bad, "mtcnn")


def test_run_gannotation_draws_the_rotated_sequence_and_a_video(tmp_path):
    from hfvid import GANnotationConfig, GANnotationGenerator
    from hfvid.data.video import iter_frames
    from hfvid.demo import _Runner, run_gannotation
    from hfvid.models.gannotation.pipeline_gannotation import GANnotationPipeline

    torch.manual_seed(0)
    config = GANnotationConfig(num_landmarks=5, base_channels=8, num_res_blocks=1, image_size=32, critic_num_layers=3)
    GANnotationPipeline(synthesizer=GANnotationGenerator(config)).save_pretrained(tmp_path / "gannotation")
    source = Image.fromarray(np.full((48, 48, 3), 120, np.uint8))
    points = [[14, 16], [34, 16], [24, 26], [16, 36], [32, 36]]
    grid, video, result = run_gannotation(_Runner("gannotation", str(tmp_path / "gannotation"), "cpu"), source,
                                          json.dumps(points), 4)
    assert grid.size == (4 * 128, 128)  # 32-pixel faces shown 4x larger
    assert len(list(iter_frames(video))) == 4
    targets = np.array(result["landmarks"])
    assert targets.shape == (4, 5, 2) and not np.allclose(targets[0], targets[-1])  # the shape turns
    with pytest.raises(ValueError, match="JSON list"):
        run_gannotation(_Runner("gannotation", str(tmp_path / "gannotation"), "cpu"), source, "[[1, 2", 4)


def _save_tiny_bmvit(path):
    from hfvid.data.synthetic_actors import ACTION_NAMES
    from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor

    backbone = {"image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
                "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]], "stride_kv": [[1, 4, 4], [1, 2, 2]]}
    torch.manual_seed(0)
    config = BMViTConfig(num_action_labels=4, backbone_config=backbone, id2label=dict(enumerate(ACTION_NAMES)),
                         person_threshold=0.0)
    BMViTForActionLocalization(config).save_pretrained(path)
    BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, frame_stride=2, base_fps=8.0,
                        num_action_labels=4).save_pretrained(path)


def _actor_video(path):
    from hfvid.data.synthetic_actors import synthetic_actor_video
    from hfvid.data.video import write_video

    return write_video(path, list(synthetic_actor_video(16, seed=0)["frames"]), fps=8)


def test_run_video_writes_the_action_boxes_on_the_video(fan_folder, tmp_path):
    from hfvid.data.video import iter_frames
    from hfvid.demo import _Runner, run_video

    path = _actor_video(tmp_path / "actors.mp4")
    drawn, video, result = run_video(_Runner("bmvit", str(fan_folder / "bmvit"), "cpu"), str(path))
    assert result and all("detections" in keyframe for keyframe in result)
    assert any(keyframe["detections"] for keyframe in result)
    assert drawn.size == (256, 256)  # the busiest keyframe, 32-pixel frames shown 8x larger
    decoded = [frame.image for frame in iter_frames(video)]
    originals = [np.asarray(Image.fromarray(frame.image).resize((256, 256))) for frame in iter_frames(path)]
    assert len(decoded) == len(originals) and decoded[0].shape == (256, 256, 3)
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 100 for a, b in zip(decoded, originals))


def test_browser_upload_run_shows_drawn_result_and_json(fan_folder, tmp_path, free_port):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'hfvid[demo]')")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from hfvid.demo import launch_demo

    face = synthetic_faces(1, image_size=128, seed=5)[0]
    Image.fromarray(face["image"]).save(tmp_path / "face.png")
    port = free_port
    demo = launch_demo(fan_folder, port=port, block=False)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.locator("#subpixel_fan-input input[type=file]").set_input_files(str(tmp_path / "face.png"))
            page.locator("#subpixel_fan-box textarea, #subpixel_fan-box input").first.fill(
                ", ".join(f"{v:.1f}" for v in face["box"]))
            page.locator("#subpixel_fan-run").click()
            drawn = page.locator("#subpixel_fan-output img")
            drawn.wait_for(state="visible", timeout=60_000)
            page.locator("#subpixel_fan-json").get_by_text("landmarks").first.wait_for(timeout=60_000)
            assert drawn.get_attribute("src")
            page.screenshot(path=str(tmp_path / "demo.png"))

            # a video tab: upload an mp4, run, get the video with the boxes drawn and the keyframes' JSON
            page.get_by_role("tab", name="bmvit").click()
            page.locator("#bmvit-input input[type=file]").set_input_files(str(_actor_video(tmp_path / "actors.mp4")))
            page.locator("#bmvit-run").click()
            page.locator("#bmvit-json").get_by_text("detections").first.wait_for(timeout=60_000)
            page.locator("#bmvit-output img").wait_for(state="visible", timeout=60_000)  # the busiest keyframe
            drawn_video = page.locator("#bmvit-video video")
            drawn_video.wait_for(state="attached", timeout=60_000)
            assert drawn_video.get_attribute("src")
            page.screenshot(path=str(tmp_path / "demo_video.png"))
            browser.close()
    finally:
        demo.close()
