#!/usr/bin/env python
"""Train GANnotation (landmark-guided face-to-face synthesis, recurrent cycle consistency loss) with Accelerate.

    accelerate launch training_scripts/train_gannotation.py --dataset_name synthetic --output_dir out/gannotation
    accelerate launch training_scripts/train_gannotation.py --train_dir 300VW_Dataset_2015_12_14 \
        --validation_dir 300VW_test --frames_dir 300VW_frames --min_frame_gap 50 --max_frame_gap 200 \
        --rotation 15 --flip_prob 0.5 --per_device_train_batch_size 64 --output_dir out/gannotation

Data: `--dataset_name synthetic` (built-in one-identity clips whose geometry follows the landmarks), a
`frames + landmarks` folder (`--train_dir`: one sub-folder per video with frames and `landmarks.npy` or per-frame
`.pts`), the 300VW release as it unpacks (`--train_dir 300VW_Dataset_2015_12_14`: `<video>/vid.avi` +
`annot/*.pts`, decoded once into `--frames_dir`), or a saved `datasets` table (`--dataset_name <dir>`, columns
`video_id, frame_idx, image, landmarks`).
Each generator step sees triplets (A, B, C) of one video and minimises `lambda_rec L_rec + lambda_cyc L_cyc +
lambda_rcc L_rcc + lambda_perc L_perc + lambda_tv L_tv + lambda_adv L_adv`; with `lambda_adv > 0` every generator
step is preceded by `--n_critic` critic steps (WGAN-GP or hinge), each on its own batch. Two optimisers (Adam, betas
0.5/0.9) prepared by one Accelerator, driven by the shared training loop (`hfvid.training.TrainingLoop`: data order,
checkpoints, exact `--resume_from_checkpoint`) through `GANStep`; both lr schedules count generator steps, so they
end together at the last step. Optional EMA of the generator; sample grids under `<output_dir>/samples/`. The output
folder is a `GANnotationPipeline` (`synthesizer/`, and `critic/` for resuming) with `README.md` and `all_results.json`.
"""

import copy
import json
from pathlib import Path

import torch
from accelerate.logging import get_logger

from hfvid.metrics.synthesis import cycle_error, l1_error, psnr, recurrent_consistency_gap, ssim
from hfvid.models.gannotation import GANnotationConfig, GANnotationDiscriminator, GANnotationGenerator
from hfvid.models.gannotation.data_gannotation import TripletDataset, load_video_folder, videos_from_table
from hfvid.models.gannotation.losses import PerceptualLoss, generator_loss, gradient_penalty
from hfvid.models.gannotation.modeling_gannotation import critic_loss
from hfvid.training import (
    TrainingLoop,
    compute_max_train_steps,
    init_trackers,
    make_accelerator,
    make_dataloaders,
    make_lr_scheduler,
    make_parser,
    parse_config_overrides,
    training_results,
    validate_args,
)

logger = get_logger(__name__, log_level="INFO")
LOSS_FIELDS = ("lambda_adv", "lambda_rec", "lambda_cyc", "lambda_rcc", "lambda_perc", "lambda_tv", "gp_weight")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    parser.set_defaults(lr_scheduler_type="constant")
    group = parser.add_argument_group("GANnotation")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="Continue from a saved GANnotation pipeline folder (synthesizer/, optional critic/).")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='Config fields of a new model, e.g. "num_landmarks=68,base_channels=16,image_size=64".')
    for name in LOSS_FIELDS:
        group.add_argument(f"--{name}", type=float, default=None, help=f"Override the config's {name}.")
    group.add_argument("--gan_type", type=str, default=None, choices=["wgan-gp", "hinge"])
    group.add_argument("--n_critic", type=int, default=4, help="Critic steps per generator step (code: 4).")
    group.add_argument("--critic_learning_rate", type=float, default=None, help="Default: --learning_rate.")
    group.add_argument("--adam_beta1", type=float, default=0.5)
    group.add_argument("--adam_beta2", type=float, default=0.9)
    group.add_argument("--use_ema", action="store_true", help="Keep an EMA of the generator; it is what is saved.")
    group.add_argument("--ema_decay", type=float, default=0.999)
    group.add_argument("--perceptual_weights", type=str, default=None,
                       help="VGG16 ImageNet .pth (default: torch hub cache); the term is off when none is on disk.")
    group.add_argument("--sample_steps", type=int, default=None, help="Sample grid every N steps (and at the end).")
    group.add_argument("--crop_margin", type=float, default=16.0, help="Crop margin (tight), % of face size.")
    group.add_argument("--crop_margin_jitter", type=float, default=None,
                       help="Std of the margin jitter (code: 4; default 4 for real data, 0 for synthetic).")
    group.add_argument("--frames_dir", type=str, default=None,
                       help="Where 300VW vid.avi files are decoded once (default: <video folder>/frames).")
    group.add_argument("--rotation", type=float, default=0.0,
                       help="Training augmentation: random in-plane rotation of up to this many degrees per triplet.")
    group.add_argument("--flip_prob", type=float, default=0.0,
                       help="Training augmentation: horizontal mirror probability per triplet (68-point iBUG "
                            "mirror table for the landmarks).")
    group.add_argument("--min_frame_gap", type=int, default=None, help="Default 50 (real data) / 1 (synthetic).")
    group.add_argument("--max_frame_gap", type=int, default=None, help="Default 200 (real data) / unlimited.")
    group.add_argument("--synthetic_kind", type=str, default="faces", choices=["faces", "blobs"])
    group.add_argument("--synthetic_videos", type=int, default=32)
    group.add_argument("--synthetic_eval_videos", type=int, default=8)
    group.add_argument("--synthetic_frames", type=int, default=8)
    group.add_argument("--synthetic_image_size", type=int, default=None, help="Default: the model's image_size.")
    args = validate_args(parser.parse_args(argv))
    if args.n_critic < 1:
        raise ValueError(f"--n_critic must be >= 1, got {args.n_critic}")
    if args.gradient_accumulation_steps != 1:
        raise ValueError("--gradient_accumulation_steps > 1 is not supported by the GAN loop (two optimisers)")
    return args


def build_models(args) -> tuple[GANnotationGenerator, GANnotationDiscriminator]:
    """A new generator + critic from the config (overrides and loss flags applied), or a saved pipeline's."""
    if args.model_name_or_path:
        generator = GANnotationGenerator.from_pretrained(args.model_name_or_path, subfolder="synthesizer")
        critic_dir = Path(args.model_name_or_path) / "critic"
        config = generator.config
    else:
        config = GANnotationConfig(**parse_config_overrides(args.config_overrides))
        generator, critic_dir = GANnotationGenerator(config), None
    for name in (*LOSS_FIELDS, "gan_type"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if critic_dir is not None and critic_dir.is_dir():
        critic = GANnotationDiscriminator.from_pretrained(critic_dir)
    else:
        critic = GANnotationDiscriminator(config)
    critic.config = config
    return generator, critic


def load_videos(args, split: str, image_size: int):
    """The train or eval videos from the chosen source (None when the split has none)."""
    train = split == "train"
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_pairs import synthetic_videos

        count = args.synthetic_videos if train else args.synthetic_eval_videos
        return synthetic_videos(count, args.synthetic_frames, args.synthetic_image_size or image_size,
                                seed=args.seed + (0 if train else 10_000), kind=args.synthetic_kind)
    if args.dataset_name is not None:
        import datasets

        table = (datasets.load_from_disk(args.dataset_name) if Path(args.dataset_name).is_dir()
                 else datasets.load_dataset(args.dataset_name))
        if isinstance(table, datasets.DatasetDict):
            name = "train" if train else next((s for s in ("validation", "test") if s in table), None)
            table = table[name] if name else None
        elif not train:
            table = None
        return None if table is None else videos_from_table(table)
    folder = args.train_dir if train else args.validation_dir
    return load_video_folder(folder, args.frames_dir) if folder else None


def make_dataset(args, videos, config, train: bool) -> TripletDataset:
    synthetic = args.dataset_name == "synthetic"
    jitter = args.crop_margin_jitter if args.crop_margin_jitter is not None else (0.0 if synthetic else 4.0)
    return TripletDataset(
        videos, config.image_size, config.num_landmarks, margin=args.crop_margin,
        margin_jitter=jitter if train else 0.0,
        min_gap=args.min_frame_gap if args.min_frame_gap is not None else (1 if synthetic else 50),
        max_gap=args.max_frame_gap if args.max_frame_gap is not None else (None if synthetic else 200),
        seed=args.seed + (0 if train else 1),
        rotation=args.rotation if train else 0.0, flip_prob=args.flip_prob if train else 0.0,
    )


def with_maps(batch: dict, render) -> dict:
    """Add ``maps_source/target/third`` rendered from the batch's landmarks."""
    return batch | {f"maps_{name}": render(batch[f"landmarks_{name}"]) for name in ("source", "target", "third")}


@torch.no_grad()
def update_ema(ema, model, decay: float) -> None:
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param.detach(), 1.0 - decay)


def evaluate(accelerator, model, loader) -> dict:
    """Mean L1/PSNR/SSIM of G(A, h_B) vs B, the copy-input baseline |A - B|, recurrent gap and cycle error."""
    was_training = model.training
    model.eval()
    render = accelerator.unwrap_model(model).render_landmarks
    generate = lambda x, maps: model(x, landmark_maps=maps).sample  # noqa: E731
    sums, count = {}, 0
    with torch.no_grad():
        for batch in loader:
            batch = with_maps(batch, render)
            generated = generate(batch["source"], batch["maps_target"])
            gathered = accelerator.gather_for_metrics((generated, batch["target"], batch["source"]))
            values = {
                "l1": l1_error(gathered[0], gathered[1]),
                "copy_l1": l1_error(gathered[2], gathered[1]),
                "psnr": psnr(gathered[0], gathered[1]),
                "ssim": ssim(gathered[0], gathered[1]),
                "recurrent_gap": recurrent_consistency_gap(generate, batch["source"], batch["maps_target"],
                                                           batch["maps_third"]),
                "cycle_error": cycle_error(generate, batch["source"], batch["maps_source"], batch["maps_target"]),
            }
            size = gathered[0].shape[0]
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value * size
            count += size
    model.train(was_training)
    return {key: value / max(count, 1) for key, value in sums.items()}


def save_samples(accelerator, model, batch: dict, path: Path) -> None:
    """A grid: rows of source A | target frame B | G(A, h_B) | mask (first 8 triplets), in [0, 1]."""
    from torchvision.utils import save_image

    unwrapped = accelerator.unwrap_model(model)
    was_training = unwrapped.training
    unwrapped.eval()
    with torch.no_grad():
        batch = {k: v[:8] for k, v in batch.items()}
        out = unwrapped(batch["source"], target_landmarks=batch["landmarks_target"])
    unwrapped.train(was_training)
    mask = out.mask.expand(-1, 3, -1, -1) * 2 - 1 if out.mask is not None else torch.zeros_like(out.sample)
    rows = torch.stack([batch["source"], batch["target"], out.sample, mask], 1).flatten(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((rows.float().cpu() + 1) / 2, path, nrow=4)


class GANStep:
    """The loop's ``train_step``: ``n_critic`` batches update the critic (returns None), the next one the generator
    (returns its total loss). The loop holds the generator, its optimizer and schedule; both schedulers step once
    per generator step, so a schedule built for the run's generator steps ends at its last step for the critic
    too. Between generator steps (where checkpoints are taken) it holds no state."""

    def __init__(self, loop, critic, opt_d, sched_d, perceptual=None, ema=None, sample_batch=None):
        self.loop, self.accelerator, self.args = loop, loop.accelerator, loop.args
        self.generator, self.opt_g, self.sched_g = loop.model, loop.optimizer, loop.lr_scheduler
        self.critic, self.opt_d, self.sched_d = critic, opt_d, sched_d
        self.perceptual, self.ema, self.sample_batch = perceptual, ema, sample_batch
        unwrapped = self.accelerator.unwrap_model(self.generator)
        self.config, self.render = unwrapped.config, unwrapped.render_landmarks
        self.critic_steps = self.args.n_critic if self.config.lambda_adv > 0 else 0
        self.done, self.logs = 0, {}  # critic updates so far in the current generator step

    def generate(self, x, maps):
        return self.generator(x, landmark_maps=maps).sample

    def score(self, x, maps):
        return self.critic(x, landmark_maps=maps).logits

    def critic_update(self, batch) -> None:
        config, accelerator = self.config, self.accelerator
        with torch.no_grad():
            fake = self.generate(batch["source"], batch["maps_target"])
        real_fake = torch.cat([batch["target"], fake])
        maps = torch.cat([batch["maps_target"], batch["maps_target"]])
        labels = torch.cat([torch.ones(len(fake)), torch.zeros(len(fake))]).to(fake.device)
        d_loss = critic_loss(self.score(real_fake, maps), labels, config.gan_type) * 2  # -mean D(B) + mean D(AB)
        if config.gan_type == "wgan-gp":
            gp = gradient_penalty(lambda x, m=batch["maps_target"]: self.score(x, m), batch["target"], fake)
            d_loss = d_loss + config.gp_weight * gp
            self.logs["gp"] = gp.item()
        self.opt_d.zero_grad()
        accelerator.backward(d_loss)
        if self.args.max_grad_norm:
            accelerator.clip_grad_norm_(self.critic.parameters(), self.args.max_grad_norm)
        self.opt_d.step()
        self.logs["critic_loss"] = d_loss.item()

    def __call__(self, batch):
        batch = with_maps(batch, self.render)
        if self.done < self.critic_steps:
            self.critic_update(batch)
            self.done += 1
            return None
        accelerator, args = self.accelerator, self.args
        total, parts = generator_loss(self.config, self.generate, batch,
                                      critic=self.score if self.critic_steps else None, perceptual=self.perceptual)
        self.opt_g.zero_grad()
        accelerator.backward(total)
        if args.max_grad_norm:
            accelerator.clip_grad_norm_(self.generator.parameters(), args.max_grad_norm)
        self.opt_g.step()
        self.sched_g.step()
        if self.critic_steps:
            self.sched_d.step()
        self.opt_d.zero_grad()  # the adversarial term left gradients on the critic
        if self.ema is not None:
            update_ema(self.ema, accelerator.unwrap_model(self.generator), args.ema_decay)
        self.done, step = 0, self.loop.global_step + 1  # the loop counts the step once this returns
        if step % args.logging_steps == 0:
            logs = self.logs | {f"loss_{k}": v.item() for k, v in parts.items() if k != "generated"}
            if accelerator.unwrap_model(self.generator).mask_layer is not None:  # mask collapse (M -> 1) shows here
                with torch.no_grad():
                    mask = self.generator(batch["source"], landmark_maps=batch["maps_target"]).mask
                logs["mean_mask"] = mask.mean().item()
            accelerator.log(logs, step=step)
        self.logs = {}
        if args.sample_steps and step % args.sample_steps == 0 and accelerator.is_main_process:
            save_samples(accelerator, self.generator, self.sample_batch,
                         Path(args.output_dir) / "samples" / f"step_{step}.png")
        return total


def main(args):
    accelerator = make_accelerator(args, find_unused_parameters=True)
    generator, critic = build_models(args)
    config = generator.config
    use_critic = config.lambda_adv > 0
    perceptual = PerceptualLoss.vgg16(args.perceptual_weights) if config.lambda_perc > 0 else None
    if config.lambda_perc > 0 and perceptual is None:
        logger.warning("No VGG16 ImageNet weights on disk: the perceptual term is disabled (lambda_perc ignored)")

    with accelerator.main_process_first():
        train_videos = load_videos(args, "train", config.image_size)
        eval_videos = load_videos(args, "eval", config.image_size)
    train_set = make_dataset(args, train_videos, config, train=True)
    eval_set = make_dataset(args, eval_videos, config, train=False) if eval_videos else None
    train_loader, eval_loader = make_dataloaders(args, train_set, eval_set)  # its seeded generator: exact resume

    betas = (args.adam_beta1, args.adam_beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.learning_rate, betas=betas, weight_decay=args.weight_decay)
    opt_d = torch.optim.Adam(critic.parameters(), lr=args.critic_learning_rate or args.learning_rate, betas=betas,
                             weight_decay=args.weight_decay)
    generator, critic, opt_g, opt_d, train_loader = accelerator.prepare(generator, critic, opt_g, opt_d, train_loader)
    if len(train_loader) == 0:  # before the schedulers: a 0-step polynomial schedule dies of ZeroDivisionError
        raise ValueError("The training dataloader is empty (fewer triplets than one batch).")
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)
    batches_per_step = args.n_critic + 1 if use_critic else 1  # each generator step also feeds n_critic critic steps
    max_steps = compute_max_train_steps(args, train_loader, batches_per_step)
    sched_g = accelerator.prepare(make_lr_scheduler(args, opt_g, max_steps))
    sched_d = accelerator.prepare(make_lr_scheduler(args, opt_d, max_steps))  # stepped per generator step too
    if perceptual is not None:
        perceptual = perceptual.to(accelerator.device)
    ema = None
    if args.use_ema:
        ema = copy.deepcopy(accelerator.unwrap_model(generator)).eval().requires_grad_(False)
    # processor=None: the final folder is a diffusers GANnotationPipeline (written by finish), not a processor's;
    # the EMA is checkpointed as <checkpoint>/ema.safetensors (register_for_checkpointing would pickle it)
    loop = TrainingLoop(accelerator, args, generator, opt_g, sched_g, train_loader, processor=None,
                        extra_state={"ema": ema} if ema is not None else None, batches_per_step=batches_per_step)
    init_trackers(accelerator, "gannotation", args)

    sample_batch = next(iter(eval_loader if eval_loader is not None else train_loader))
    step = GANStep(loop, critic, opt_d, sched_d, perceptual, ema, sample_batch)
    final_model = ema if ema is not None else generator  # what is evaluated and saved
    critic.train()
    history = loop.run(None, evaluate=(lambda: evaluate(accelerator, final_model, eval_loader))
                       if eval_loader is not None else None, train_step=step)

    if history["eval"] and history["eval"][-1][1]:
        logger.info(f"eval: {history['eval'][-1][1]}")
    results = training_results(history, adversarial=use_critic, perceptual=perceptual is not None,
                               dataset=args.dataset_name or args.train_dir)
    finish(accelerator, args, final_model, critic if use_critic else None, results, step.sample_batch)
    return {"history": history, "results": results}


def finish(accelerator, args, generator, critic, results: dict, sample_batch) -> Path:
    """Save the pipeline (synthesizer + critic for resuming), samples, all_results.json and the card; push if asked."""
    from hfvid import hub
    from hfvid.models.gannotation.pipeline_gannotation import GANnotationPipeline

    output_dir = Path(args.output_dir)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        synthesizer = accelerator.unwrap_model(generator)
        pipeline = GANnotationPipeline(synthesizer=synthesizer,
                                       critic=accelerator.unwrap_model(critic) if critic is not None else None)
        pipeline.save_pretrained(output_dir)
        save_samples(accelerator, synthesizer, sample_batch, output_dir / "samples" / "final.png")
        all_results = {f"eval_{k}": v for k, v in results.items() if isinstance(v, (int, float, str, bool))}
        (output_dir / "all_results.json").write_text(json.dumps(all_results, indent=2))
        card = hub.render_model_card(synthesizer.config, results, args)
        card.save(output_dir / "README.md")
        if args.push_to_hub:
            url = hub.publish(output_dir, args.hub_model_id or output_dir.name, token=args.hub_token,
                              private=args.hub_private_repo)
            logger.info(f"Pushed {output_dir} to {url}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return output_dir


if __name__ == "__main__":
    main(parse_args())
