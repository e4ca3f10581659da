"""Whole photo -> landmark points: face detector time next to landmark time, faces/s (CPU; run by hand).

Photos: scikit-image's real photographs with faces (astronaut 512x512, cameraman 512x512, both side by side
1024x512). The landmark model is SH-FAN (FAN-4, 256x256 crops, random weights: speed does not depend on them) or
`--tiny`. Rows: the built-in MTCNN detector alone, the landmark pipeline given the detected boxes, and the whole
`pipe(photo)` path (detector + landmarks), as ms per photo and faces/s.

face-alignment's own detectors (SFD, BlazeFace, dlib) download their weights on first use, so its
`get_landmarks_from_image` cannot run on this offline machine; compare on a machine with internet access.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def photos() -> dict:
    from PIL import Image
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    camera = Image.fromarray(data.camera()).convert("RGB")
    both = Image.new("RGB", (1024, 512))
    both.paste(astronaut, (0, 0))
    both.paste(camera, (512, 0))
    return {"astronaut": astronaut, "camera": camera, "astronaut+camera": both}


def timed(function, repeats: int) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny landmark model instead of FAN-4")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import pipeline

    import hfvid  # noqa: F401
    from hfvid.models.subpixel_fan import (
        SubpixelFANImageProcessor,
        SubpixelFANConfig,
        SubpixelFANForFacialLandmarkDetection,
    )
    from hfvid.modules.face_detection import resolve_face_detector

    kwargs = dict(num_stacks=1, hidden_size=64, hourglass_depth=2, image_size=64, heatmap_size=16) if args.tiny else {}
    config = SubpixelFANConfig(**kwargs)
    folder = tempfile.mkdtemp()
    SubpixelFANForFacialLandmarkDetection(config).save_pretrained(folder)
    SubpixelFANImageProcessor(crop_size=config.image_size).save_pretrained(folder)
    pipe = pipeline("hfvid-facial-landmarks", model=folder, device="cpu")
    detector = resolve_face_detector()

    print(f"landmark model: {'tiny' if args.tiny else 'FAN-4'} ({config.image_size}px crops), "
          f"{args.threads} thread(s), {args.repeats} repeats, flip_test off")
    print("| photo | faces | detector ms | landmarks ms (given boxes) | photo -> points ms | faces/s (photo -> points) |")
    print("|---|---|---|---|---|---|")
    for name, photo in photos().items():
        boxes = [face["box"] for face in detector(photo)]
        detect = timed(lambda: detector(photo), args.repeats)
        landmarks = timed(lambda: pipe(photo, boxes=boxes, flip_test=False, batch_size=8), args.repeats)
        whole = timed(lambda: pipe(photo, flip_test=False, batch_size=8), args.repeats)
        print(f"| {name} {photo.width}x{photo.height} | {len(boxes)} | {1000 * detect:.0f} | {1000 * landmarks:.0f} | "
              f"{1000 * whole:.0f} | {len(boxes) / whole:.1f} |")
    assert np.isfinite(whole)


if __name__ == "__main__":
    main()
