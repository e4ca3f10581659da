#!/usr/bin/env python
"""REST step C: self-train a video captioner on retrieved pseudo-captions (no action labels), with Accelerate.

    accelerate launch training_scripts/train_rest.py --dataset_name synthetic --retrieved_dir out/retrieved \
        --output_dir out/rest
    accelerate launch training_scripts/train_rest.py --train_dir kinetics400/train --retrieved_dir out/retrieved \
        --model_name_or_path microsoft/git-base-vatex --retriever_name_or_path openai/clip-vit-base-patch32 \
        --learning_rate 1e-5 --output_dir out/rest
    accelerate launch training_scripts/train_rest.py --train_dir kinetics400/train --retrieved_dir out/retrieved \
        --model_name_or_path Salesforce/blip-image-captioning-base --num_frames 8 --learning_rate 1e-5 \
        --output_dir out/rest_blip

The captioner is GIT (`GitForCausalLM`, video-native) or BLIP (`BlipForConditionalGeneration`, an image captioner
fed T frames, see `RESTConfig.blip_frame_fusion`): taken from `--model_name_or_path`, or `--captioner_type` for a
new tiny synthetic model.

Targets (`--target_mode`, the paper's ablations): `retrieved` (REST: a caption drawn uniformly from the video's
retrieved set, resampled every epoch), `own_frames` (the video's own frame pseudo-captions: self-training without
retrieval) or `class_names` (the negative baseline: `class_template` over the label; needs labels). Self-training
rounds: rerun steps A-C with `--captioner_name_or_path` / `--model_name_or_path` set to this output.
Evaluation: zero-shot top-1/top-5 on held-out synthetic videos (`--dataset_name synthetic`). With
`--retriever_name_or_path` the saved checkpoint also carries that CLIP model (Rule A scoring); both REST pipelines
load the output folder.
"""

import copy
import csv
import json

import torch

from hfvid.metrics.classification import top_k_accuracy
from hfvid.models.rest import RESTConfig, RESTForVideoCaptioning, RESTForZeroShotVideoClassification
from hfvid.models.rest.modeling_rest import is_temporal_embedding
from hfvid.data.rest_videos import (
    load_shards,
    load_unlabelled_videos,
    synthetic_classes,
    synthetic_videos,
    tiny_synthetic_components,
)
from hfvid.models.rest.self_training import RetrievedCaptionDataset, caption_collator
from hfvid.training import (finish_training, make_accelerator, make_dataloaders, make_parser, prepare_training,
                            training_results, validate_args)


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("REST")
    group.add_argument("--retrieved_dir", type=str, default=None, help="Shards of build_rest_caption_index.")
    group.add_argument("--pool_dir", type=str, default=None, help="Pseudo-caption shards (--target_mode own_frames).")
    group.add_argument("--target_mode", choices=["retrieved", "own_frames", "class_names"], default="retrieved")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="An hfvid-rest checkpoint, or a GIT or BLIP captioner to adapt (with its processor).")
    group.add_argument("--captioner_type", choices=["git", "blip"], default=None,
                       help="Captioner of a new synthetic model (default git); checked against --model_name_or_path.")
    group.add_argument("--blip_frame_fusion", choices=["concat", "mean", "middle"], default=None,
                       help="BLIP only: how the T frames reach the text decoder (default concat).")
    group.add_argument("--prompt", type=str, default=None,
                       help='Caption prefix of a new model (default: "a picture of " for BLIP checkpoints, else "").')
    group.add_argument("--retriever_name_or_path", type=str, default=None, help="CLIP to bundle for Rule A scoring.")
    group.add_argument("--num_frames", type=int, default=None,
                       help="Frames per video (default: the checkpoint's, else 8); pretrained temporal embeddings "
                            "are interpolated in time to this count, never re-initialised.")
    group.add_argument("--temporal_embedding_learning_rate", type=float, default=None,
                       help="Learning rate of the captioner's temporal embeddings (default --learning_rate; the "
                            "spec's schedule: 1e-4 against 1e-5 for the rest).")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='Tiny synthetic model sizes, e.g. "hidden_size=32,layers=2" (synthetic data only).')
    group.add_argument("--scoring", choices=["likelihood", "text_similarity", "combined"], default=None,
                       help="Zero-shot rule for evaluation and the saved config.")
    group.add_argument("--class_template", type=str, default=None)
    group.add_argument("--synthetic_videos", type=int, default=144)
    group.add_argument("--synthetic_eval_videos", type=int, default=48)
    args = parser.parse_args(argv)
    args = validate_args(args)
    if args.target_mode == "retrieved" and args.retrieved_dir is None:
        raise ValueError("--target_mode retrieved needs --retrieved_dir (run build_rest_caption_index.py first)")
    if args.target_mode == "own_frames" and args.pool_dir is None:
        raise ValueError("--target_mode own_frames needs --pool_dir (run generate_rest_pseudo_captions.py first)")
    if args.target_mode == "class_names" and args.dataset_name != "synthetic" and args.annotations is None:
        raise ValueError("--target_mode class_names needs labels: --annotations with video_id,label rows")
    if args.temporal_embedding_learning_rate is not None and args.temporal_embedding_learning_rate < 0:
        raise ValueError(f"--temporal_embedding_learning_rate must be >= 0, got {args.temporal_embedding_learning_rate}")
    if args.blip_frame_fusion and args.captioner_type == "git":
        raise ValueError("--blip_frame_fusion applies to --captioner_type blip only")
    return args


def parse_overrides(text):
    pairs = (item.partition("=") for item in filter(None, (text or "").split(",")))
    return {key.strip(): json.loads(value) for key, _, value in pairs}


def build_model(args):
    """A REST captioner and its processor: from a REST checkpoint, from a GIT or BLIP captioner, or tiny and
    synthetic."""
    from transformers import AutoConfig, AutoProcessor

    if args.model_name_or_path:
        source = AutoConfig.from_pretrained(args.model_name_or_path)
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
        if source.model_type == "hfvid-rest":
            kind = source.captioner_type
        elif source.model_type in ("git", "blip"):
            kind = source.model_type
        else:
            raise ValueError(f"--model_name_or_path must be an hfvid-rest, GIT or BLIP checkpoint, got model_type "
                             f"{source.model_type!r}")
        if args.captioner_type and args.captioner_type != kind:
            raise ValueError(f"--captioner_type {args.captioner_type} but {args.model_name_or_path} is a {kind} model")
        if source.model_type == "hfvid-rest":
            model = RESTForVideoCaptioning.from_pretrained(args.model_name_or_path)
            if args.num_frames and args.num_frames != model.config.num_frames:  # keep the trained embeddings
                model = model.with_num_frames(args.num_frames)
                processor.video_processor.num_frames = args.num_frames
            return model, processor
        if kind == "blip":
            return adapt_blip_captioner(args, source, processor)
        return adapt_git_captioner(args, source, processor)
    if args.dataset_name != "synthetic":
        raise ValueError("real videos need --model_name_or_path (a GIT or BLIP captioner, e.g. "
                         "microsoft/git-base-vatex or Salesforce/blip-image-captioning-base)")
    extra = {"blip_frame_fusion": args.blip_frame_fusion} if args.blip_frame_fusion else {}
    if args.prompt is not None:
        extra["prompt"] = args.prompt
    config, processor = tiny_synthetic_components(num_frames=args.num_frames or 4,
                                                  captioner_type=args.captioner_type or "git",
                                                  **extra, **parse_overrides(args.config_overrides))
    return RESTForVideoCaptioning(config), processor


def adapt_git_captioner(args, git_config, git_processor):
    """Initialise REST from a pretrained GIT captioner. A video GIT (`num_image_with_embedding` set, e.g.
    microsoft/git-base-vatex) keeps its temporal embeddings, interpolated in time when `--num_frames` differs
    (`RESTForVideoCaptioning.with_num_frames`); an image GIT has none, so they start at zero (the video model starts
    as the image model)."""
    from transformers import CLIPTokenizer, GitForCausalLM

    from hfvid.models.rest import RESTProcessor, RESTVideoProcessor

    source_frames = git_config.num_image_with_embedding
    num_frames = args.num_frames or source_frames or 8
    build_frames = source_frames or num_frames  # load at the checkpoint's own count, then resize
    captioner = git_config.to_dict() | {"num_image_with_embedding": build_frames}
    config = RESTConfig(num_frames=build_frames, captioner_config=captioner, prompt=args.prompt or "")
    model = RESTForVideoCaptioning(config)
    git = GitForCausalLM.from_pretrained(args.model_name_or_path)
    missing, unexpected = model.captioner.load_state_dict(git.state_dict(), strict=False)
    if unexpected or (missing and (source_frames or not all(map(is_temporal_embedding, missing)))):
        raise ValueError(f"GIT weights do not fit: missing {missing}, unexpected {unexpected}")
    if num_frames != build_frames:
        model = model.with_num_frames(num_frames)
    size = git_processor.image_processor.crop_size
    video_processor = RESTVideoProcessor(num_frames=num_frames, crop_size=size,
                                         size={"shortest_edge": size["height"]})
    clip_tokenizer = CLIPTokenizer.from_pretrained(args.retriever_name_or_path) if args.retriever_name_or_path \
        else git_processor.tokenizer
    return model, RESTProcessor(video_processor, git_processor.tokenizer, clip_tokenizer)


def adapt_blip_captioner(args, blip_config, blip_processor):
    """Initialise REST from a pretrained BLIP image captioner: its weights unchanged, temporal embeddings at zero,
    frames fused by `--blip_frame_fusion`, BLIP's `"a picture of "` caption prefix unless `--prompt` says otherwise."""
    from transformers import BlipForConditionalGeneration, CLIPTokenizer

    from hfvid.models.rest import RESTProcessor

    num_frames = args.num_frames or 8
    retriever = AutoConfigCLIP(args.retriever_name_or_path) if args.retriever_name_or_path else None
    config = RESTConfig(num_frames=num_frames, captioner_type="blip", captioner_config=blip_config.to_dict(),
                        retriever_config=retriever, blip_frame_fusion=args.blip_frame_fusion or "concat",
                        prompt="a picture of " if args.prompt is None else args.prompt)
    model = RESTForVideoCaptioning(config)
    blip = BlipForConditionalGeneration.from_pretrained(args.model_name_or_path)
    model.captioner.blip.load_state_dict(blip.state_dict())  # strict: every BLIP weight is used
    clip_tokenizer = CLIPTokenizer.from_pretrained(args.retriever_name_or_path) if args.retriever_name_or_path \
        else None
    return model, RESTProcessor.from_captioner_processor(blip_processor, "blip", num_frames, clip_tokenizer)


def AutoConfigCLIP(path):  # noqa: N802 - a CLIP config dict for RESTConfig.retriever_config
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path).to_dict()


def optimizer_param_groups(model, args) -> list[dict]:
    """AdamW groups: every weight at `--learning_rate`, the temporal embeddings (new parameters, trained from zero
    or from another frame count) at `--temporal_embedding_learning_rate` when given."""
    temporal = list(model.temporal_embedding_parameters().values())
    if args.temporal_embedding_learning_rate is None or not temporal:
        return [{"params": list(model.parameters()), "lr": args.learning_rate}]
    chosen = {id(p) for p in temporal}
    return [{"params": [p for p in model.parameters() if id(p) not in chosen], "lr": args.learning_rate},
            {"params": temporal, "lr": args.temporal_embedding_learning_rate}]


def training_targets(args, video_ids) -> list[list[str]]:
    """Per video its caption targets for `--target_mode` (videos without any are an error)."""
    if args.target_mode == "retrieved":
        table = load_shards(args.retrieved_dir)
        lookup = dict(zip(table["video_id"], table["captions"]))
    elif args.target_mode == "own_frames":
        lookup = {}
        for row in load_shards(args.pool_dir):
            lookup.setdefault(row["video_id"], []).append(row["caption"])
    else:
        template = args.class_template or "a person {}"
        if args.dataset_name == "synthetic":
            lookup = {v["video_id"]: [template.format(v["label_name"])]
                      for v in synthetic_videos(args.synthetic_videos, args.seed)}
        else:
            with open(args.annotations, newline="") as handle:
                lookup = {row["video_id"]: [template.format(row["label"].replace("_", " "))]
                          for row in csv.DictReader(handle)}
    missing = [v for v in video_ids if not lookup.get(v)]
    if missing:
        raise ValueError(f"{len(missing)} videos have no {args.target_mode} caption (e.g. {missing[:3]})")
    return [list(lookup[v]) for v in video_ids]


@torch.no_grad()
def zero_shot_scores(model, processor, pixel_values, class_names, template, batch_size: int = 16):
    """Rule B scores `(N, K)` of the class prompts for videos `(N, T, 3, H, W)` (likelihood needs no CLIP)."""
    prompts = processor.tokenize_captions([template.format(c) for c in class_names], prompt=model.config.prompt)
    device = next(model.parameters()).device
    rows = [model.score_texts(pixel_values[i:i + batch_size].to(device), prompts["input_ids"].to(device),
                              prompts["attention_mask"].to(device), prompts["labels"].to(device))
            for i in range(0, len(pixel_values), batch_size)]
    return torch.cat(rows).cpu()


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    if args.scoring:
        model.config.scoring = args.scoring
    if args.class_template:
        model.config.class_template = args.class_template
    videos = load_unlabelled_videos(args.dataset_name, args.train_dir, args.seed, args.synthetic_videos,
                                    args.max_train_samples)
    with accelerator.main_process_first():
        targets = training_targets(args, [video_id for video_id, _ in videos])
    train_set = RetrievedCaptionDataset([v for _, v in videos], targets, processor.video_processor, seed=args.seed,
                                        cache_pixels=args.dataset_name == "synthetic")
    loader, _ = make_dataloaders(args, train_set, collate_fn=caption_collator(processor, model.config.prompt))
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, args), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, loader, project_name="rest", processor=processor)
    model = training.model

    evaluate = None  # real data: training only (zero-shot evaluation is evaluate_rest_zero_shot.py)
    if args.dataset_name == "synthetic":
        held_out = synthetic_videos(args.synthetic_eval_videos, args.seed + 1)
        eval_pixels = processor.video_processor([v["frames"] for v in held_out], return_tensors="pt")["pixel_values"]
        eval_labels = torch.tensor([v["label"] for v in held_out])
        classes, template = synthetic_classes(), "a {}"

        def evaluate_zero_shot():
            unwrapped = accelerator.unwrap_model(model)
            was_training = unwrapped.training
            unwrapped.eval()
            scores = zero_shot_scores(unwrapped, processor, eval_pixels, classes, template)
            unwrapped.train(was_training)
            return {"top1": top_k_accuracy(scores, eval_labels, 1), "top5": top_k_accuracy(scores, eval_labels, 5),
                    "chance": 100.0 / len(classes)}

        evaluate = evaluate_zero_shot

    history = training.loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.train_dir, scoring="likelihood",
                               target_mode=args.target_mode, num_videos=len(videos))
    final = model
    if args.retriever_name_or_path:  # bundle CLIP so the folder also serves Rule A zero-shot classification
        from transformers import CLIPModel

        unwrapped = accelerator.unwrap_model(model)
        clip = CLIPModel.from_pretrained(args.retriever_name_or_path)
        config = copy.deepcopy(unwrapped.config)  # the captioner's config holds no retriever
        config.retriever_config, config.scoring = clip.config, "text_similarity"
        final = RESTForZeroShotVideoClassification(config)
        final.captioner.load_state_dict(unwrapped.captioner.state_dict())
        final.retriever.load_state_dict(clip.state_dict())
    card = {"extra": {"num_targets": sum(len(t) for t in targets), "target_mode": args.target_mode}}
    finish_training(accelerator, args, final, processor, results, card_kwargs=card)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
