"""build_rest_caption_index's retrieval knobs: a small --retrieval_chunk_size writes the same retrieved sets."""

import pytest

from hfvid.quickstart import load_training_script

COMMON = ["--dataset_name", "synthetic", "--cpu", "--synthetic_videos", "12", "--seed", "0"]


def test_retrieval_chunk_size_gives_the_same_index(tmp_path):
    from hfvid.data.rest_videos import load_shards, save_shard
    from hfvid.data.synthetic_video import COLOURS, MOTIONS, SHAPES
    from hfvid.models.rest.retrieval import build_caption_pool

    captions = [f"a {c} {s}" for c in COLOURS for s in SHAPES] + [f"a {c} {s} moves {m}" for c in COLOURS
                                                                  for s in SHAPES for m in MOTIONS]
    save_shard(build_caption_pool({"video_id": str(i), "caption": t} for i, t in enumerate(captions)),
               tmp_path / "pool", 0)  # 45 captions in the synthetic vocabulary (skips the slow captioner step)
    index = load_training_script("build_rest_caption_index")
    tables = []
    for name, extra in [("default", []), ("chunked", ["--retrieval_chunk_size", "4"])]:
        index.main(index.parse_args([*COMMON, "--pool_dir", str(tmp_path / "pool"), "--output_dir",
                                     str(tmp_path / name), "--top_k", "4", "--min_sim", "0.5", *extra]))
        tables.append(load_shards(tmp_path / name).to_dict())
    assert len(tables[0]["captions"]) == 12 and all(tables[0]["captions"])
    assert tables[0] == tables[1]
    with pytest.raises(ValueError, match="retrieval_chunk_size"):
        index.parse_args([*COMMON, "--pool_dir", "p", "--output_dir", "o", "--retrieval_chunk_size", "0"])
