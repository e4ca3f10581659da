"""SH-FAN side by side with face-alignment 1.5 (same weights, same inputs, one process): `make bench` or
``python benchmarks/bench_subpixel_fan.py [--repeats 5] [--threads 2] [--stacks 4] [--compile]``.

Rows (each printed as seconds per call and as face-alignment time / hfvid time, per interleaved repetition):

1. bare forward, batch 8 of 256x256 crops: face-alignment's ``FAN(num_modules=4)`` (random weights and random
   BatchNorm statistics) vs hfvid's ``SubpixelFANForFacialLandmarkDetection`` converted from that state dict with
   ``convert_face_alignment_state_dict`` (hfvid's forward also decodes the heatmaps to sub-pixel points): with its
   defaults, with face-alignment's layout and batching (NCHW, the whole batch at once: only the in-place inference
   path differs), and in bfloat16 (an option: different rounding, so not the same outputs);
2. ``pipeline("hfvid-facial-landmarks")``, 8 photos (512x512) with given boxes -> JSON points, batch 8, flip test
   off, vs face-alignment's bare forward of row 1;
3. photo -> points with given boxes: face-alignment's ``get_landmarks_from_image(photo, detected_faces=[box])``
   per photo (its own cropping, forward, numba decoding; built without its detector and without its torch.compile
   so nothing downloads) vs the hfvid pipeline of row 2, in float32 and in bfloat16 (an option);
4. photo -> points with detection: the hfvid pipeline finding the faces itself with its built-in MTCNN detector
   (``hfvid.modules.face_detection``) vs face-alignment with the boxes given (its detectors download weights, so
   they cannot run offline: this row charges hfvid for detection and face-alignment for none);
5. photo -> points with detection, both sides detecting: hfvid as in row 4 vs face-alignment's default detector
   S3FD (its network, random weights, on the same photo, with its own input preparation; its Python box decoding
   is not charged) followed by ``get_landmarks_from_image`` with the box: a lower bound on face-alignment's
   ``get_landmarks_from_image(photo)``, so the ratio is a lower bound on hfvid's speed-up.

Where the time goes (torch.profiler, FAN-4, batch 8, 2 threads): the arithmetic is identical, and convolutions
(oneDNN) are ~60% of face-alignment's forward. The other ~40% is memory traffic on 33 MB feature maps (8 x 256 x
64 x 64 floats): batch norms, ReLUs, ``torch.cat`` of the three block branches plus the residual add, and the
nearest 2x upsampling (``upsample_nearest2d`` + its copy + the add) of every hourglass level. hfvid's eval/no-grad
path (``hfvid.modules.hourglass``) removes a full pass per block and per hourglass level (branches summed straight
into the output, upsampling as a broadcast in-place add, in-place ReLUs, stem and ``bn_end`` BatchNorms folded
into their convolutions): ~1.2x at batch 8. The second gain is cache size: a crop's maps are 4 MB, so batch 8 at
once streams through memory while chunks of 2-4 crops stay in the 32 MB L3 (face-alignment batch 8: ~1.5x slower
per crop than its own batch 1); hfvid runs CPU inference in chunks of ``config.cpu_inference_chunk_size=2``.
Channels-last layout (default on) added 1.15x on top (chunks of 1: 1.20 vs 1.38 s per 8 crops). At batch 1 both networks are cache
resident and convolution-bound, so hfvid's fp32 forward is level with face-alignment's there, which is why
photo -> points (face-alignment runs one face at a time, ``max_batch_size=1``, the cache-friendly size) is near
1x in float32; bfloat16 (``model.to(torch.bfloat16)``; this EPYC has AVX512-BF16) is ~1.8x faster again. Returning only the last stack's
heatmaps at inference saves memory, not time (every stack's heatmaps feed the next stack). Decoding (local
soft-argmax) and the crop/inverse maps are ~1% of a batch; the pipeline adds ~0.1-0.2 s per 8 photos (image
conversion and validation, crops, JSON lists). ``torch.compile`` (``--compile``) took ~80 s to compile on 2 cores
and gained nothing measurable over eager (1.62 vs 1.64 s), so it stays off.

The machine is usually shared: the script prints the load average before and after, and per-repetition ratios
(each repetition runs every contender once, back to back) so that load affects both sides of a ratio alike.
"""

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PHOTO_BOX = [184.0, 72.0, 272.0, 176.0]  # skimage.data.astronaut(): the face, measured by hand


def decode_table(num_points: int = 2000, sigma: float = 2.0, seed: int = 0) -> list[tuple]:
    """Decode error of the 4 decoders x {continuous, rounded} encoding on 64x64 maps (heatmap pixels)."""
    from hfvid.modules.heatmaps import DECODE_METHODS, decode_heatmaps, encode_heatmaps

    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(1, num_points, 2, generator=generator) * 52 + 6  # away from the borders
    rows = []
    for encoding in ("continuous", "rounded"):
        heatmaps = encode_heatmaps(points, 64, sigma, encoding)
        for method in DECODE_METHODS:
            decoded, _ = decode_heatmaps(heatmaps, method)
            error = (decoded - points).norm(dim=-1)
            rows.append((encoding, method, error.mean().item(), error.max().item()))
    return rows


def face_alignment_reference(num_stacks: int, seed: int = 0) -> torch.nn.Module:
    """face-alignment's FAN with random weights and random BatchNorm statistics, in eval mode."""
    from hfvid.models.subpixel_fan.convert_face_alignment_to_hfvid import random_face_alignment_fan

    return random_face_alignment_fan(num_stacks, seed)


def face_alignment_api(net: torch.nn.Module):
    """face-alignment's ``FaceAlignment`` around ``net``, without a detector or torch.compile (nothing to download)."""
    from face_alignment import FaceAlignment, LandmarksType

    api = FaceAlignment.__new__(FaceAlignment)
    api.device, api.dtype, api.flip_input, api.verbose, api.max_batch_size = "cpu", torch.float32, False, False, 1
    api.landmarks_type = LandmarksType.TWO_D
    api.face_detector = type("GivenBoxes", (), {"reference_scale": 195.0})()  # face-alignment's S3FD value
    api.face_alignment_net = net
    return api


def face_alignment_s3fd() -> torch.nn.Module:
    """face-alignment's default detector network (S3FD) with random weights: its real weights download at run time.

    The same architecture costs the same arithmetic whatever the weights; only its Python box decoding (run on every
    anchor scoring > 0.05) depends on them, so :func:`s3fd_network` times the network alone: a lower bound on the
    time face-alignment's ``get_landmarks_from_image`` spends finding faces.
    """
    from face_alignment.detection.sfd.net_s3fd import s3fd

    torch.manual_seed(0)
    return s3fd().eval()


def s3fd_network(net: torch.nn.Module, image: np.ndarray) -> None:
    """S3FD's forward on one photo with face-alignment's own input preparation (BGR, mean subtraction, softmax)."""
    with torch.no_grad():
        batch = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].float().flip(-3)
        outputs = net(batch - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1))
        for i in range(len(outputs) // 2):
            outputs[2 * i] = torch.softmax(outputs[2 * i], dim=1)


def photos(count: int) -> tuple[list[np.ndarray], list[list[list[float]]]]:
    """The astronaut photo, every other one mirrored (box mirrored too): ``count`` images and one box each."""
    from skimage.data import astronaut

    photo = astronaut()
    width = photo.shape[1]
    x1, y1, x2, y2 = PHOTO_BOX
    mirrored_box = [width - 1 - x2, y1, width - 1 - x1, y2]
    images = [np.ascontiguousarray(photo[:, ::-1]) if i % 2 else photo for i in range(count)]
    return images, [[mirrored_box if i % 2 else PHOTO_BOX] for i in range(count)]


def interleaved(contenders: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, running them back to back in every repetition (after one warm-up)."""
    for run in contenders.values():
        run()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def side_by_side(repeats: int, num_stacks: int = 4, batch_size: int = 8, compile_model: bool = False,
                 detection: bool = True) -> tuple[dict, list[tuple]]:
    """Build both sides from one state dict, run them interleaved; returns (times, [(row, contender, baseline)])."""
    from transformers import pipeline

    import hfvid  # noqa: F401  (registers the pipeline task)
    from hfvid.models.subpixel_fan import SubpixelFANImageProcessor
    from hfvid.models.subpixel_fan.convert_face_alignment_to_hfvid import (
        convert_face_alignment_state_dict,
        load_converted_model,
    )

    reference = face_alignment_reference(num_stacks)
    config, state_dict = convert_face_alignment_state_dict(reference.state_dict())
    model = load_converted_model(config, state_dict)
    plain_layout = load_converted_model(copy.deepcopy(config), state_dict)  # face-alignment's layout and batching
    plain_layout.config.channels_last, plain_layout.config.cpu_inference_chunk_size = False, None
    half = load_converted_model(config, state_dict).to(torch.bfloat16)  # an option, not the default
    folder = tempfile.mkdtemp()
    model.save_pretrained(folder)
    SubpixelFANImageProcessor().save_pretrained(folder)
    pipe = pipeline("hfvid-facial-landmarks", model=folder, device="cpu")
    pipe_bf16 = pipeline("hfvid-facial-landmarks", model=folder, device="cpu", dtype=torch.bfloat16)
    api = face_alignment_api(reference)

    crops = torch.rand(batch_size, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    crops_bf16 = crops.to(torch.bfloat16)
    images, boxes = photos(batch_size)
    with torch.no_grad():  # same network, same inputs: check before timing
        expected = reference(crops)[-1]
        torch.testing.assert_close(model(crops).heatmaps, expected, rtol=0, atol=1e-4)
        torch.testing.assert_close(plain_layout(crops).heatmaps, expected, rtol=0, atol=1e-4)

    def no_grad(run):
        def wrapped():
            with torch.no_grad():
                run()
        return wrapped

    contenders = {
        "face-alignment forward": no_grad(lambda: reference(crops)),
        "hfvid forward": no_grad(lambda: model(crops)),
        "hfvid forward, NCHW, whole batch": no_grad(lambda: plain_layout(crops)),
        "hfvid forward, bfloat16": no_grad(lambda: half(crops_bf16)),
        "hfvid pipeline, boxes": lambda: pipe(images, boxes=boxes, batch_size=batch_size, flip_test=False),
        "hfvid pipeline, boxes, bfloat16": lambda: pipe_bf16(images, boxes=boxes, batch_size=batch_size,
                                                             flip_test=False),
        "face-alignment get_landmarks_from_image, boxes": lambda: [
            api.get_landmarks_from_image(image, detected_faces=[np.asarray(box[0])])
            for image, box in zip(images, boxes)
        ],
    }
    rows = [
        ("bare forward (same weights), defaults", "hfvid forward", "face-alignment forward"),
        ("bare forward, NCHW and whole batch like face-alignment", "hfvid forward, NCHW, whole batch",
         "face-alignment forward"),
        ("bare forward in bfloat16 (option; landmarks differ by bf16 rounding)", "hfvid forward, bfloat16",
         "face-alignment forward"),
        ("pipeline photo -> JSON points, boxes given, vs face-alignment bare forward", "hfvid pipeline, boxes",
         "face-alignment forward"),
        ("photo -> points, boxes given", "hfvid pipeline, boxes", "face-alignment get_landmarks_from_image, boxes"),
        ("photo -> points, boxes given, hfvid in bfloat16 (option)", "hfvid pipeline, boxes, bfloat16",
         "face-alignment get_landmarks_from_image, boxes"),
    ]
    if detection:
        s3fd = face_alignment_s3fd()
        contenders["hfvid pipeline, MTCNN detection"] = lambda: pipe(images, batch_size=batch_size, flip_test=False)
        contenders["face-alignment S3FD network + get_landmarks_from_image"] = lambda: [
            (s3fd_network(s3fd, image), api.get_landmarks_from_image(image, detected_faces=[np.asarray(box[0])]))
            for image, box in zip(images, boxes)
        ]
        rows.append(("photo -> points, hfvid detects (MTCNN), face-alignment given boxes",
                     "hfvid pipeline, MTCNN detection", "face-alignment get_landmarks_from_image, boxes"))
        rows.append(("photo -> points with detection: hfvid (MTCNN) vs face-alignment's default S3FD (network only)",
                     "hfvid pipeline, MTCNN detection", "face-alignment S3FD network + get_landmarks_from_image"))
    if compile_model:
        start = time.perf_counter()
        compiled = torch.compile(model)
        with torch.no_grad():
            compiled(crops)
        print(f"torch.compile: {time.perf_counter() - start:.0f} s to compile")
        contenders["hfvid forward, torch.compile"] = no_grad(lambda: compiled(crops))
        rows.append(("bare forward, torch.compile", "hfvid forward, torch.compile", "face-alignment forward"))
    return interleaved(contenders, repeats), rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stacks", type=int, default=4, help="FAN stacks on both sides (4 = 2DFAN-4)")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile row (slow to compile)")
    parser.add_argument("--no_detection", action="store_true", help="skip the MTCNN detection row")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores, {cpu_model()}")
    print(f"load average before: {load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min)\n")

    print("| encoding | decoder | mean error (hm px) | max error (hm px) |\n|---|---|---|---|")
    for encoding, method, mean, worst in decode_table():
        print(f"| {encoding} | {method} | {mean:.4f} | {worst:.4f} |")

    times, rows = side_by_side(args.repeats, args.stacks, compile_model=args.compile, detection=not args.no_detection)
    print("\n| contender | median s | min s |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} |")
    print("\n| speed-up over face-alignment (its time / hfvid time) | median | per repetition |\n|---|---|---|")
    for label, ours, theirs in rows:
        ratios = [t / o for t, o in zip(times[theirs], times[ours])]
        print(f"| {label} | {statistics.median(ratios):.2f}x | {' '.join(f'{r:.2f}' for r in ratios)} |")
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")


if __name__ == "__main__":
    main()
