"""Data plumbing of REST's scripts: video listing, atomic `datasets` shards, and tiny synthetic components.

Every REST step writes its output as `datasets` shards (`<dir>/shard-00000/`, ...). A shard is saved to a
temporary folder and renamed when complete, so a crashed or preempted run is resumed by skipping the shards
that exist (any rank count, any order).
"""

import os
import shutil
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


def list_videos(folder) -> list[tuple[str, str]]:
    """`(video_id, path)` of every video file under `folder` (sorted; the id is the relative path sans suffix)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"video folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise ValueError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {folder}")
    return [(str(p.relative_to(folder).with_suffix("")), str(p)) for p in paths]


SYNTHETIC_SHAPES = ("square",)  # 3 colours x 1 shape x 4 motions = 12 classes (chance 8.3%)


def synthetic_videos(count: int, seed: int) -> list[dict]:
    """The synthetic shapes videos REST's scripts and quickstart use (12 classes: colour x motion)."""
    from .synthetic_video import shapes_in_motion

    return shapes_in_motion(count, seed=seed, shapes=SYNTHETIC_SHAPES)


def synthetic_classes() -> list[str]:
    from .synthetic_video import COLOURS, action_classes

    return action_classes(tuple(COLOURS), SYNTHETIC_SHAPES)


def load_unlabelled_videos(dataset_name, train_dir, seed: int = 0, num_synthetic: int = 144,
                           max_samples: int | None = None) -> list[tuple[str, object]]:
    """`(video_id, video)` pairs in a fixed order; synthetic videos are arrays, real ones paths. Labels are never
    read: REST trains without them."""
    if dataset_name == "synthetic":
        videos = [(v["video_id"], v["frames"]) for v in synthetic_videos(num_synthetic, seed)]
    elif dataset_name is None and train_dir is not None:
        videos = list_videos(train_dir)
    else:
        raise ValueError(f"need dataset_name='synthetic' or a train_dir, got {dataset_name!r} and {train_dir!r}")
    return videos[:max_samples] if max_samples else videos


def shard_path(folder, index: int) -> Path:
    return Path(folder) / f"shard-{index:05d}"


def shard_done(folder, index: int) -> bool:
    return (shard_path(folder, index) / "dataset_info.json").is_file()


def save_shard(dataset, folder, index: int) -> Path:
    """Save one shard atomically (temporary folder, then rename)."""
    final = shard_path(folder, index)
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def load_shards(folder):
    """Concatenate every complete shard of `folder` (in shard order) into one `datasets.Dataset`."""
    import datasets

    shards = sorted(p for p in Path(folder).glob("shard-?????") if (p / "dataset_info.json").is_file())
    if not shards:
        raise ValueError(f"no complete shard under {folder}")
    return datasets.concatenate_datasets([datasets.load_from_disk(str(p)) for p in shards])


def my_shards(num_items: int, shard_size: int, process_index: int, num_processes: int) -> list[tuple[int, range]]:
    """The `(shard index, item range)` pairs this rank handles (round robin over shards)."""
    count = -(-num_items // shard_size)
    return [(i, range(i * shard_size, min((i + 1) * shard_size, num_items)))
            for i in range(count) if i % num_processes == process_index]


def synthetic_tokenizers():
    """In-memory tokenizers over the synthetic vocabulary: a BERT WordPiece one (GIT) and a CLIP one."""
    from transformers import BertTokenizer, CLIPTokenizer

    from .synthetic_video import VOCABULARY

    words = ["a", "an", "empty", "frame", "moves", "person", *VOCABULARY]
    bert = BertTokenizer(vocab={w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])})
    clip_vocab, merges = {"<|startoftext|>": 0, "<|endoftext|>": 1}, []
    for word in words:  # BPE merges that rebuild each word from its characters, left to right
        pieces = [*word[:-1], word[-1] + "</w>"]
        for piece in pieces:
            clip_vocab.setdefault(piece, len(clip_vocab))
        while len(pieces) > 1:
            if (pieces[0], pieces[1]) not in merges:
                merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            clip_vocab.setdefault(pieces[0], len(clip_vocab))
    clip = CLIPTokenizer(vocab=clip_vocab, merges=merges, model_max_length=77)
    return bert, clip


def tiny_synthetic_components(num_frames: int = 4, image_size: int = 32, hidden_size: int = 32, layers: int = 2,
                              patch_size: int = 8, captioner_type: str = "git", **overrides):
    """`(RESTConfig, RESTProcessor)` of a tiny random REST model (GIT or BLIP captioner) for the synthetic shapes
    videos. The tiny BLIP uses `[CLS]` as its decoder BOS (real BLIP checkpoints use `[DEC]`)."""
    from ..models.rest.configuration_rest import RESTConfig
    from ..models.rest.processing_rest import RESTProcessor, captioner_video_processor

    bert, clip = synthetic_tokenizers()
    tiny = {"hidden_size": hidden_size, "num_hidden_layers": layers, "num_attention_heads": 2,
            "intermediate_size": 2 * hidden_size}
    vision = {**tiny, "image_size": image_size, "patch_size": patch_size}
    text = {**tiny, "vocab_size": bert.vocab_size, "bos_token_id": bert.cls_token_id,
            "eos_token_id": bert.sep_token_id, "pad_token_id": bert.pad_token_id, "max_position_embeddings": 64,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    if captioner_type == "blip":  # BlipVisionConfig's default initializer_range (1e-10) makes a blind random ViT
        captioner = {"text_config": {**text, "sep_token_id": bert.sep_token_id},
                     "vision_config": {**vision, "attention_dropout": 0.0, "initializer_range": 0.02},
                     "projection_dim": hidden_size}
    else:
        captioner = {**text, "vision_config": vision}
    config = RESTConfig(
        num_frames=num_frames, class_template="a {}", scoring="likelihood", captioner_type=captioner_type,
        generation_kwargs={"num_beams": 1, "max_new_tokens": 8, "min_new_tokens": 1},
        captioner_config=captioner,
        retriever_config={"projection_dim": 16,
                          "text_config": {**tiny, "vocab_size": len(clip), "max_position_embeddings": 77,
                                          "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
                          "vision_config": vision},
        **overrides,
    )
    return config, RESTProcessor(captioner_video_processor(captioner_type, num_frames, image_size), bert, clip)


__all__ = [
    "SYNTHETIC_SHAPES",
    "list_videos",
    "load_unlabelled_videos",
    "synthetic_classes",
    "synthetic_videos",
    "load_shards",
    "my_shards",
    "save_shard",
    "shard_done",
    "shard_path",
    "synthetic_tokenizers",
    "tiny_synthetic_components",
]
