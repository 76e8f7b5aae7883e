"""The training package: settings (:class:`TrainConfig`), recipes, the fit loop, distillation as a plug-in, the
DeepGaze II readout trainer and the run report. :func:`tfsal.train.train` is its front door with keyword arguments.

Modules: ``config`` (:class:`TrainConfig`, what ``config.json`` records and resume reads), ``recipes``, ``loop``
(:func:`run`), ``distillation``, ``deepgaze2`` (:func:`train_deepgaze2`), ``post`` (output blur, int8 step),
``report`` (run directory, ``metrics.json``, ``val_grid.png``), ``callbacks``.

Example:
    >>> from tfsal.training import TrainConfig, get_recipe
    >>> get_recipe("fastsal").optimizer
    'adam'
    >>> TrainConfig("fastsal-a", epochs=2).asdict()["epochs"]
    2
"""
from tfsal.training.callbacks import Deadline
from tfsal.training.config import MAY_CHANGE_ON_RESUME, TrainConfig
from tfsal.training.deepgaze2 import (CACHED_FEATURE_TRAINERS, DEEPGAZE2_PATIENCE, READOUT_LEARNING_RATE,
                                      READOUT_LOSS, train_deepgaze2)
from tfsal.training.distillation import Distillation, NoDistillation, make_distillation
from tfsal.training.loop import PRECISIONS, Plan, make_strategy, plan_run, run
from tfsal.training.post import INT8_READY_EPOCHS, INT8_READY_MODELS, INT8_READY_TARGET, INT8_READY_WEIGHT
from tfsal.training.recipes import RECIPES, Recipe, get_recipe, step_schedule
from tfsal.training.report import TrainResult, new_run_dir

__all__ = ["TrainConfig", "MAY_CHANGE_ON_RESUME", "Recipe", "RECIPES", "get_recipe", "step_schedule", "run",
           "plan_run", "Plan", "make_strategy", "PRECISIONS", "TrainResult", "new_run_dir", "train_deepgaze2",
           "CACHED_FEATURE_TRAINERS", "DEEPGAZE2_PATIENCE", "READOUT_LEARNING_RATE", "READOUT_LOSS", "Distillation",
           "NoDistillation", "make_distillation", "Deadline", "INT8_READY_MODELS", "INT8_READY_TARGET",
           "INT8_READY_EPOCHS", "INT8_READY_WEIGHT"]
