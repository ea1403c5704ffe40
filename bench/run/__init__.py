"""One cell's work and what declares it: the sweep file (`spec`: tracks, axes, the training
recipe, the evaluation; `SpecError` for anything invalid), training a network (`training`),
sampling it with a solver or a native sampler (`sampling`), the device (`device`) and the
peak-memory probe (`memory`)."""

from bench.run.device import CPU, DEVICES, describe, resolve
from bench.run.memory import PeakMemory
from bench.run.sampling import (
    NotApplicable,
    Samples,
    applicability,
    draw_floor_sample,
    draw_heldout,
    draw_noise,
    draw_source,
    sample,
)
from bench.run.spec import (
    PROFILES,
    Axes,
    EvalConfig,
    FiguresConfig,
    Spec,
    SpecError,
    Track,
    TrainConfig,
    check_steps,
    check_tolerance,
    key_fields,
    load_profile,
    load_spec,
    parse_spec,
    stable_hash,
    train_config,
    validate_track,
)
from bench.run.training import (
    ForeignCheckpoint,
    Trained,
    TrainingDiverged,
    build_net,
    foreign_message,
    load_checkpoint,
    load_weights,
    net_factory,
    read_checkpoint,
    save_checkpoint,
    train,
    weights_hash,
    weights_label,
)

__all__ = ["CPU", "DEVICES", "PROFILES", "Axes", "EvalConfig", "FiguresConfig", "ForeignCheckpoint", "NotApplicable",
           "PeakMemory", "Samples", "Spec", "SpecError", "Track", "TrainConfig", "Trained", "TrainingDiverged",
           "applicability", "build_net", "check_steps", "check_tolerance", "describe", "draw_floor_sample",
           "draw_heldout", "draw_noise", "draw_source", "foreign_message", "key_fields", "load_checkpoint",
           "load_profile", "load_spec", "load_weights", "net_factory", "parse_spec", "read_checkpoint", "resolve",
           "sample", "save_checkpoint", "stable_hash", "train", "train_config", "validate_track", "weights_hash",
           "weights_label"]  # fmt: skip
