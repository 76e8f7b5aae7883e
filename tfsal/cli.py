"""The ``tfsal`` command line. Each command parses, calls one public Python function, and prints.

Options default to ``None`` so the Python functions' defaults are the single source of truth. Shared values (sizes,
counts, ranges, thresholds) are parsed with the types of :mod:`tfsal._cli_types`, i.e. checked by :mod:`tfsal.checks`
before TensorFlow is imported; ``--help`` and argument errors never import it.

Errors: bad input (:data:`tfsal.errors.USER_ERRORS`) is one line ``Error: ...`` (exit status 1; 2 for a bad option
or argument); anything else is a bug and prints one line saying so and how to see its traceback (``tfsal --debug
CMD ...`` or ``TFSAL_DEBUG=1``), exit status :data:`EXIT_INTERNAL`; Ctrl-C exits with :data:`EXIT_INTERRUPTED`.
"""
import contextlib
import logging
import os
import sys

import click

from tfsal._cli_types import (
    CORRELATION,
    CROP_MODEL_OR_BASELINE,
    FINITE_FLOAT,
    FRACTION,
    IMAGE_SIZE,
    INT_LIST,
    MODEL,
    MODEL_NAME,
    MODEL_OR_BASELINE,
    MODEL_OR_PRETRAINED,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
)
from tfsal.errors import USER_ERRORS

#: Exit status of an internal error (a bug): EX_SOFTWARE of BSD's sysexits.h ("internal software error").
EXIT_INTERNAL = 70
#: Exit status after Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130
#: Environment variable that shows tracebacks like ``--debug``.
DEBUG_ENV = "TFSAL_DEBUG"


def _debug(ctx):
    return bool(ctx.meta.get("tfsal.debug")) or os.environ.get(DEBUG_ENV, "").strip().lower() not in (
        "", "0", "false", "no", "off")


def _one_line(err):
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


class _EchoHandler(logging.Handler):
    """tfsal's log records on standard error (looked up at each record, so click's test runner sees them too)."""

    def emit(self, record):
        try:
            prefix = "warning: " if record.levelno == logging.WARNING else (
                "error: " if record.levelno >= logging.ERROR else "")
            click.echo(prefix + record.getMessage(), err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def _tfsal_logging(verbose):
    """Show the ``tfsal`` loggers' warnings (and with ``--verbose`` their info lines) while a command runs."""
    logger = logging.getLogger("tfsal")
    handler = _EchoHandler()
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


class _Command(click.Command):
    """A command whose bad-input errors are one line and whose other errors say they are internal errors."""

    def invoke(self, ctx):
        from tfsal._quiet import quiet_tensorflow

        verbose = bool(ctx.meta.get("tfsal.verbose"))
        with _tfsal_logging(verbose):
            try:
                quiet_tensorflow(verbose)
                return super().invoke(ctx)
            except (click.exceptions.Exit, click.ClickException, click.Abort):
                raise
            except USER_ERRORS as err:
                if _debug(ctx):
                    raise
                raise click.ClickException(_one_line(err)) from err
            except Exception as err:
                if _debug(ctx):
                    raise
                words = [p for p in ctx.command_path.split()[1:]]
                click.echo(
                    f"Internal error (a bug in tfsal, not a problem with your input): {type(err).__name__}: "
                    f"{_one_line(err)}; see the traceback with 'tfsal --debug {' '.join(words)} ...' or "
                    f"{DEBUG_ENV}=1, and please report it", err=True)
                ctx.exit(EXIT_INTERNAL)


class _Group(click.Group):
    """The ``tfsal`` group: usage errors on one line (with the command's help hint), Ctrl-C as one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # `tfsal` or `tfsal visualize` alone: the help
            click.echo(err.ctx.get_help() if err.ctx is not None else err.format_message(), err=True)
            sys.exit(err.exit_code)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
            click.echo(f"Error: {_one_line(err.format_message())}{hint}", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"Error: {_one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except (KeyboardInterrupt, click.Abort):
            click.echo("Error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except OSError as err:  # e.g. a closed pipe: `tfsal models | head -1`
            if getattr(err, "errno", None) == 32:
                sys.exit(1)
            raise
        sys.exit(rv if isinstance(rv, int) else 0)


def _png_out(out, overwrite):
    """The ``--out`` PNG of a picture command, checked before any work (see :func:`tfsal.checks.new_file`)."""
    from tfsal import checks

    return checks.new_file(out, "--out", suffixes=(".png",), overwrite=bool(overwrite))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tfsal")
@click.option("--debug", is_flag=True, help=f"Show the full traceback of any error (or set {DEBUG_ENV}=1).")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's C++/absl logging and tfsal's info lines.")
@click.pass_context
def main(ctx, debug, verbose):
    """tfsal: visual saliency prediction (train, predict, inspect models)."""
    ctx.meta["tfsal.debug"] = debug
    ctx.meta["tfsal.verbose"] = verbose


@main.command("models", cls=_Command)
def models_cmd():
    """List the registered model names (and the trained weights shipped with tfsal)."""
    from tfsal.models import list_models, model_info, shipped_weights

    for name in list_models(include_aliases=True):
        entry = model_info(name)
        alias = f"  (alias of {entry.alias_of})" if entry.alias_of else ""
        h, w, _ = entry.default_input_shape
        shipped = "" if entry.alias_of else "".join(
            f"  weights={s.name!r}: {s.summary}" for s in shipped_weights(name))
        click.echo(f"{name:<16} input {h}x{w}{alias}{shipped}")


@main.command("info", cls=_Command)
@click.argument("name", type=MODEL_NAME)
@click.option("--image-size", type=IMAGE_SIZE, default=None, help="HEIGHTxWIDTH (default: the model's).")
def info_cmd(name, image_size):
    """Print parameters and FLOPs of model NAME next to the paper's figures."""
    from tfsal.models import describe_model

    info = describe_model(name, None if image_size is None else (*image_size, 3))
    h, w, _ = info["input_shape"]
    paper = info["paper"]
    click.echo(f"{info['name']} at {h}x{w}")
    click.echo(f"{'':<10}{'tfsal':>12}{'paper':>12}")
    p_paper = f"{paper['params'] / 1e6:.2f}M" if "params" in paper else "-"
    f_paper = f"{paper['gflops']:.2f}" if "gflops" in paper else "-"
    click.echo(f"{'params':<10}{info['params'] / 1e6:>11.2f}M{p_paper:>12}")
    click.echo(f"{'GFLOPs':<10}{info['gflops']:>12.2f}{f_paper:>12}")
    click.echo(f"(GFLOPs = 2 x multiply-accumulates of conv/dense layers; GMACs {info['macs'] / 1e9:.2f})")
    if paper.get("source"):
        click.echo(f"paper figures: {paper['source']}")
    click.echo(f"task: {info['task']}; input: {info['preprocessing']}; output: {info['output']}")


@main.command("train", cls=_Command)
@click.argument("model", required=False, type=MODEL_NAME)
@click.option("--data", multiple=True, default=None,
              help="'demo' (default) or a dataset folder; repeat to train on several datasets at once.")
@click.option("--recipe", default=None, help="Training recipe (default: the model's; e.g. fastsal-paper).")
@click.option("--epochs", type=POSITIVE_INT, default=None, help="Epochs (default: the recipe's; small on the demo data).")
@click.option("--batch-size", type=POSITIVE_INT, default=None)
@click.option("--image-size", type=IMAGE_SIZE, default=None, help="HEIGHTxWIDTH (default: the model's input size).")
@click.option("--lr", "learning_rate", type=POSITIVE_FLOAT, default=None, help="Initial learning rate.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default=None)
@click.option("--loss", default=None, help="bce | mse | kld | kld_cc (default: the recipe's).")
@click.option("--weights", default=None,
              help="Start: 'imagenet-dogs' (offline MobileNetV2, FastSal's default when it can be had), 'none', "
                   "'imagenet' (download), a shipped weights name or a weights path.")
@click.option("--out", default=None, help="Run directory (new or empty; default runs/MODEL-TIMESTAMP).")
@click.option("--seed", type=SEED, default=None)
@click.option("--resume", default=None, help="Continue the unfinished run in this directory (its settings), also one "
              "stopped before its first epoch ended.")
@click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]), default=None,
              help="tf.distribute strategy (default: one device; multiworker reads TF_CONFIG).")
@click.option("--mixed-precision", type=click.Choice(["bf16", "fp16", "off"]), default=None)
@click.option("--max-images", type=POSITIVE_INT, default=None, help="Use at most N training and validation images.")
@click.option("--teacher", default=None,
              help="Distil from this teacher .keras (eq. 2 for a sigmoid teacher, eq. 3 for a density teacher).")
@click.option("--pseudo", default=None,
              help="Pseudo-map folder from 'tfsal pseudo-label'; its extra images train on their maps alone.")
@click.option("--hint-pretrain", type=NON_NEGATIVE_INT, default=None,
              help="Epochs of hint-loss pre-training (needs --teacher).")
@click.option("--teacher-weight", type=NON_NEGATIVE_FLOAT, default=None, help="Weight of the teacher term (default 1).")
@click.option("--teacher-loss", default=None,
              help="Train to the min-max teacher map with this loss (e.g. kld_cc_bce) instead of eq. 2/3.")
@click.option("--time-budget", type=POSITIVE_FLOAT, default=None, help="Stop training after this many seconds.")
@click.option("--output-blur", default=None,
              help="FastSal: 'auto' (default: σ of a fixed output blur chosen on val), 'none', or σ in pixels.")
@click.option("--int8-ready", type=click.Choice(["auto", "always", "never"]), default=None,
              help="FastSal: fine-tune for int8 export after training when its simulated int8 CC < 0.995 (auto, "
                   "default), always, or never.")
@click.option("--scale-crop", type=FRACTION, default=None,
              help="Augment with random crops of side fraction in [F, 1], resized back (e.g. 0.8; default: flips only).")
@click.option("--prior-grid", type=IMAGE_SIZE, default=None,
              help="FastSal: a learned additive prior on the output logits, ROWSxCOLS (e.g. 6x8; zero at the start).")
def train_cmd(model, **kwargs):
    """Train MODEL (e.g. fastsal) and write a run directory with the best .keras model, logs and pictures."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None and v != ()}
    if "data" in kwargs:
        kwargs["data"] = list(kwargs["data"]) if len(kwargs["data"]) > 1 else kwargs["data"][0]
    if str(kwargs.get("weights", "")).lower() == "none":
        kwargs["weights"] = None
    if "int8_ready" in kwargs:
        kwargs["int8_ready"] = {"auto": "auto", "always": True, "never": False}[kwargs["int8_ready"]]
    if "output_blur" in kwargs:
        text = kwargs["output_blur"].lower()
        try:
            kwargs["output_blur"] = None if text == "none" else ("auto" if text == "auto" else float(text))
        except ValueError:
            raise click.BadParameter(f"expected 'auto', 'none' or a σ in pixels; got {text!r}",
                                     param_hint="--output-blur") from None
    if model is None and "resume" not in kwargs:
        raise click.UsageError("missing MODEL (e.g. 'tfsal train fastsal'), or --resume RUN_DIR")
    if model is not None:
        kwargs["model"] = model
    from tfsal._quiet import keras_verbosity
    from tfsal.evaluate import format_table
    from tfsal.train import train

    result = train(verbose=keras_verbosity(), **kwargs)
    click.echo(f"\nrun directory: {result.run_dir}")
    click.echo(f"best model:    {result.model_path}")
    if os.path.isdir(os.path.join(result.run_dir, "logs")):  # not for deepgaze2's cached-feature training
        click.echo(f"TensorBoard:   tensorboard --logdir {os.path.join(result.run_dir, 'logs')}")
    click.echo(f"preview grid:  {result.grid_path or '(not written: see the warning above)'}")
    if result.metrics:
        click.echo("\nvalidation metrics (mean ± std over images):")
        click.echo(format_table(result.metrics))
    else:
        click.echo("validation metrics: not computed (see the warning above); metrics.json says why")


@main.command("predict", cls=_Command)
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] IMAGES...")
@click.option("--model", type=MODEL, default=None,
              help="The model, as an option: a .keras/.tflite/.onnx file or a model name.")
@click.option("--out", required=True, help="Output folder for the maps (locked while this run writes it).")
@click.option("--npy", "save_npy", is_flag=True, default=None, help="Also write raw float32 .npy maps.")
@click.option("--batch-size", type=POSITIVE_INT, default=None, help="Images per forward pass (default 8).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace existing output files.")
@click.option("--resume", is_flag=True, default=None, help="Skip images whose maps are complete; predict the rest.")
@click.option("--skip-bad", is_flag=True, default=None, help="Skip (and list) unreadable or truncated images.")
@click.option("--workers", type=POSITIVE_INT, default=None, help="Decoding / writing threads (default: CPUs, 2-8).")
@click.option("--threads", type=POSITIVE_INT, default=None, help="TFLite / ONNX Runtime threads (default: theirs).")
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def predict_cmd(args, model, out, quiet, **kwargs):
    """Write saliency maps of IMAGES (files or folders) at each image's own resolution, as OUT/NAME.png.

    MODEL (optional, first) is a .keras, .tflite or .onnx file or a registered model name; without it the shipped
    default model is used. Maps are written as they are computed; --resume continues an interrupted run.
    """
    from tfsal.predict import predict, split_model_argument

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model, images = split_model_argument(args, model)
    result = predict(model, images, out, progress=not quiet, **kwargs)
    click.echo(result.summary())
    for path, why in result.bad:
        click.echo(f"bad file skipped: {why}", err=True)


@main.command("evaluate", cls=_Command)
@click.argument("model_or_baseline", type=MODEL_OR_BASELINE)
@click.option("--data", default=None, help="'demo' (default) or a dataset folder.")
@click.option("--split", default=None, help="val (default), test, train, or 'all'.")
@click.option("--metrics", default=None, help="Comma-separated metric names (default: all 8).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Output on stdout (default: table of mean ± std).")
@click.option("--out", default=None, help="Also write the full result, with per-image scores, as JSON here.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
@click.option("--batch-size", type=POSITIVE_INT, default=None)
@click.option("--seed", type=SEED, default=None, help="Seed of the sampled metrics (AUC-Judd, AUC-Borji, sAUC).")
@click.option("--max-images", type=POSITIVE_INT, default=None, help="Score only the first N images of the split.")
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def evaluate_cmd(model_or_baseline, split, fmt, out, overwrite, quiet, **kwargs):
    """Score MODEL_OR_BASELINE (a .keras, .tflite or .onnx file, a model name, or centre-bias | uniform |
    spectral-residual) with 8 metrics."""
    from tfsal.evaluate import evaluate

    if out is not None and os.path.exists(out) and not overwrite:
        raise FileExistsError(f"output file {out!r} already exists; pass --overwrite to replace it")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if split is not None:
        kwargs["split"] = None if split == "all" else split
    if quiet:
        kwargs["progress"] = False
    result = evaluate(model_or_baseline, **kwargs)
    click.echo(result.format(fmt or "table"))
    if out is not None:
        result.save(out, overwrite=bool(overwrite))
        click.echo(f"wrote {out}", err=fmt in ("json", "csv"))


@main.command("crop", cls=_Command)
@click.argument("images", nargs=-1, required=True)
@click.option("--out", required=True, help="Output folder: crops, overlay PNGs and crops.json.")
@click.option("--aspect", "aspects", default=None, help="Comma-separated W:H aspects (default 1:1,16:9,4:5).")
@click.option("--area", default=None, help="Crop area as a fraction of the image in (0, 1] (default 0.5), or 'max' "
              "for the largest crop of each aspect.")
@click.option("--model", type=MODEL_OR_PRETRAINED, default=None,
              help="A .keras, .tflite or .onnx file or a model name (default: the shipped model).")
@click.option("--min-area", type=float, default=None, help="Smallest crop area in pixels (e.g. 65536 = 256x256).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace existing output files.")
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def crop_cmd(images, out, quiet, **kwargs):
    """Crop IMAGES (files or folders) to each aspect where a saliency model says people look."""
    from tfsal.cropping import CROPS_JSON, crop_images

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if quiet:
        kwargs["progress"] = False
    crops = crop_images(list(images), out, **kwargs)
    click.echo(f"cropped {len(crops)} image(s) into {out} (boxes in {os.path.join(out, CROPS_JSON)})")


@main.command("evaluate-crop", cls=_Command)
@click.argument("model_or_baseline", type=CROP_MODEL_OR_BASELINE)
@click.option("--data", multiple=True, help="'demo' (default) or a dataset folder; repeat for several.")
@click.option("--split", default=None, help="val (default), test, train, or 'all'.")
@click.option("--aspect", "aspects", default=None, help="Comma-separated W:H aspects (default 1:1,16:9,4:5).")
@click.option("--area", default=None, help="Area fraction(s), comma-separated, or 'max' (default 0.5).")
@click.option("--out", default=None, help="Also write the table here (.md; .json: with per-image shares).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
@click.option("--batch-size", type=int, default=None)
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def evaluate_crop_cmd(model_or_baseline, data, split, out, overwrite, quiet, **kwargs):
    """Share of human fixations inside the crops of MODEL_OR_BASELINE (pretrained | .keras | .tflite | baseline)."""
    from tfsal.cropping import evaluate_crop

    if out is not None and os.path.exists(out) and not overwrite:
        raise FileExistsError(f"output file {out!r} already exists; pass --overwrite to replace it")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if data:
        kwargs["data"] = list(data)
    if split is not None:
        kwargs["split"] = None if split == "all" else split
    if quiet:
        kwargs["progress"] = False
    result = evaluate_crop(model_or_baseline, **kwargs)
    click.echo(result.to_markdown())
    if out is not None:
        result.save(out, overwrite=bool(overwrite))
        click.echo(f"wrote {out}")


@main.command("show-fixations", cls=_Command)
@click.argument("data")
@click.option("--split", default=None, help="train | val (default) | test | all.")
@click.option("--num", type=POSITIVE_INT, default=None, help="How many images (default 6).")
@click.option("--out", required=True, help="PNG file to write.")
@click.option("--layout", default=None, help="Force a layout (default: detected).")
@click.option("--seed", type=SEED, default=None, help="Seed of the choice of images.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
def show_fixations_cmd(data, split, out, **kwargs):
    """Write a PNG of a few images of DATA ('demo' or a dataset folder) with their fixations and maps."""
    from tfsal.data import fixation_preview

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if split is not None:
        kwargs["split"] = None if split == "all" else split
    grid = fixation_preview(data, out=out, **kwargs)
    click.echo(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]})")


@main.command("export", cls=_Command)
@click.argument("model_path", type=MODEL)
@click.option("--tflite", "fmt", flag_value="tflite", default=None, help="Export a .tflite file (the default).")
@click.option("--onnx", "fmt", flag_value="onnx", help="Export an .onnx file (needs onnxruntime and tf2onnx).")
@click.option("--quantize", default=None, help="TFLite: none (float32, default) | float16 | dynamic | int8.")
@click.option("--io-dtype", default=None, help="int8 only: uint8 (default) or int8 input and output.")
@click.option("--calibration", default=None, help="int8 only: folder of real images (default: demo train images).")
@click.option("--num-calibration", type=POSITIVE_INT, default=None, help="int8 only: at most N calibration images (100).")
@click.option("--float-ops", default=None, help="int8 only: layers kept float32: auto (default: the model's own list, "
              "FastSal: its decoder) | none (all int8) | comma-separated layer-name prefixes.")
@click.option("--parity-images", default=None, help="Folder of images for the parity check (default: the demo val "
              "images).")
@click.option("--num-parity", type=POSITIVE_INT, default=None, help="At most N parity images (default 100).")
@click.option("--min-cc", type=CORRELATION, default=None, help="Fail below this mean parity CC (default 0.999 float, "
              "0.99 dynamic/int8, 0.97 int8 with the model's float layers).")
@click.option("--no-fold", is_flag=True, default=None, help="Export FastSal-C / FastSal-A without the exact graph folds.")
@click.option("--flip-tta", is_flag=True, default=None, help="Fold horizontal-flip test-time averaging into the file "
              "(better maps, two forward passes per call).")
@click.option("--no-metadata", is_flag=True, default=None,
              help="TFLite: write no TFLite Model Metadata into the file (written by default: MediaPipe, ML Binding).")
@click.option("--out", default=None, help="Output file (must not exist; default next to MODEL_PATH).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file.")
@click.option("--quiet", is_flag=True, default=None, help="No calibration progress bar.")
def export_cmd(model_path, fmt, no_fold, no_metadata, quiet, **kwargs):
    """Export MODEL_PATH (.keras, or a shipped model's name: fastsal-a) to TFLite or ONNX, checking parity."""
    from tfsal.export import export_model

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if no_fold:
        kwargs["fold"] = False
    if no_metadata:
        kwargs["metadata"] = False
    if quiet:
        kwargs["progress"] = False
    result = export_model(model_path, format=fmt or "tflite", **kwargs)
    click.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {result.seconds:.1f} s) and {result.sidecar}")
    click.echo("ops: " + ", ".join(f"{k} x{v}" for k, v in result.ops.items()))
    if result.metadata.get("tflite_metadata"):
        click.echo("TFLite Model Metadata: input 'image' (RGB, raw pixels), output 'saliency' (MediaPipe, ML Binding)")
    p = result.parity
    click.echo(f"parity vs Keras on {p['num_images']} images ({p['images']}): CC mean {p['cc_mean']:.5f}, "
               f"min {p['cc_min']:.5f}, max |diff| {p['max_abs_diff']:.5f} (threshold {p['min_cc']})")


@main.command("int8-finetune", cls=_Command)
@click.argument("model_path")
@click.option("--out", required=True, help="The .keras file to write (must not exist).")
@click.option("--data", default=None, help="'demo' (default) or a dataset folder (its train split).")
@click.option("--epochs", type=POSITIVE_INT, default=None, help="Epochs (default 12).")
@click.option("--consistency-weight", type=NON_NEGATIVE_FLOAT, default=None,
              help="Weight of 1 - CC(float map, simulated int8 map) (default 100).")
@click.option("--lr", "learning_rate", type=POSITIVE_FLOAT, default=None, help="Adam learning rate (default 1e-4).")
@click.option("--loss", default=None, help="Task loss (default kld_cc_bce).")
@click.option("--batch-size", type=POSITIVE_INT, default=None)
@click.option("--calibration", default=None, help="Folder of calibration images (default: demo train, as export).")
@click.option("--num-calibration", type=POSITIVE_INT, default=None, help="At most N calibration images (100).")
@click.option("--seed", type=SEED, default=None)
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def int8_finetune_cmd(model_path, out, quiet, **kwargs):
    """Fine-tune MODEL_PATH (.keras) so that its full-integer (int8) TFLite export matches it."""
    from tfsal.quantize import int8_finetune

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if quiet:
        kwargs["progress"] = False
    click.echo(int8_finetune(model_path, out, **kwargs).summary())


@main.command("benchmark", cls=_Command)
@click.argument("model_paths", nargs=-1)
@click.option("--threads", type=INT_LIST, default=None, help="Comma-separated thread counts (default 1,2).")
@click.option("--runs", type=POSITIVE_INT, default=None,
              help="Timed runs per row (default 100; with --runtimes per row and round, default 20).")
@click.option("--warmup", type=NON_NEGATIVE_INT, default=None, help="Untimed runs first (default 10; --runtimes 5).")
@click.option("--runtimes", is_flag=True, default=False,
              help="Compare tfsal's int8/float32 .tflite with ONNX Runtime and OpenVINO (NNCF int8) on the same "
                   "weights: MODEL_PATHS are registered names or .keras files (default fastsal-a).")
@click.option("--rounds", type=POSITIVE_INT, default=None, help="--runtimes: interleaved rounds (default 7).")
@click.option("--workdir", default=None, help="--runtimes: folder of the exported files (default ~/.cache/tfsal/bench).")
@click.option("--no-ort-int8", is_flag=True, default=None, help="--runtimes: leave out the ONNX Runtime int8 row.")
@click.option("--no-floor", is_flag=True, default=None, help="--runtimes: leave out the one-layer floor models.")
def benchmark_cmd(model_paths, threads, runtimes, **kwargs):
    """CPU latency (median, p90) of .keras, .tflite and .onnx files in one table; --runtimes: tfsal vs ONNX Runtime
    and OpenVINO side by side."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if threads is not None:
        kwargs["threads"] = threads
    only = sorted({"rounds", "workdir", "no_ort_int8", "no_floor"} & set(kwargs))
    if runtimes:
        from tfsal.bench_runtimes import compare_runtimes, format_runtime_table

        kwargs["ort_int8"], kwargs["floor"] = not kwargs.pop("no_ort_int8", False), not kwargs.pop("no_floor", False)
        result = compare_runtimes(list(model_paths) or ["fastsal-a"], progress=lambda t: click.echo("# " + t),
                                  **kwargs)
        click.echo(format_runtime_table(result))
        return
    if only:
        raise click.UsageError(f"--{only[0].replace('_', '-')} needs --runtimes")
    if not model_paths:
        raise click.UsageError("missing MODEL_PATHS (.keras, .tflite or .onnx files), or give --runtimes")
    from tfsal.benchmark import benchmark, format_table, header

    started = []

    def first_row(row):  # the header once the inputs are checked and the first row is timed
        if not started:
            started.append(True)
            click.echo(header())

    rows = benchmark(model_paths, progress=first_row, **kwargs)
    click.echo(format_table(rows))


@main.group("visualize")
def visualize_group():
    """Write PNG pictures: prediction overlays, conv filters, receptive-field patterns."""


@visualize_group.command("overlay", cls=_Command)
@click.argument("model_path")
@click.argument("image")
@click.option("--out", required=True, help="PNG file to write.")
@click.option("--alpha", type=FRACTION, default=None, help="Heat-map weight in [0, 1] (default 0.5).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
def visualize_overlay_cmd(model_path, image, out, **kwargs):
    """Predict IMAGE with MODEL_PATH (.keras) and write the map drawn over the image."""
    from tfsal.visualize import write_overlay

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    picture = write_overlay(model_path, image, out, **kwargs)
    click.echo(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})")


@visualize_group.command("filters", cls=_Command)
@click.argument("model", type=MODEL)
@click.option("--out", required=True, help="PNG file to write.")
@click.option("--layer", "layer_name", default=None, help="A Conv2D layer name (default: the first Conv2D).")
@click.option("--tile", type=POSITIVE_INT, default=None, help="Tile size in pixels (default 32).")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
def visualize_filters_cmd(model, out, **kwargs):
    """Write the filters of MODEL's first conv layer (a .keras file, or a model name: random weights) as a grid."""
    from tfsal.visualize import write_filter_grid

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    picture = write_filter_grid(model, out, **kwargs)
    click.echo(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})")


@visualize_group.command("receptive-fields", cls=_Command)
@click.argument("models", nargs=-1, required=True, type=MODEL)
@click.option("--out", required=True, help="PNG file to write.")
@click.option("--mode", type=click.Choice(["grid", "series", "validation"]), default=None,
              help="grid (default): first N channels per pooling layer; series: c from 0.5 to 3; validation: "
                   "summed activation per channel of the pattern fed forward.")
@click.option("--layers", default=None, help="Comma-separated pooling layers (default: all).")
@click.option("--channels", type=POSITIVE_INT, default=None, help="grid: the first N channels (default 16).")
@click.option("--channel", type=NON_NEGATIVE_INT, default=None, help="series / validation: the clamped channel (default 0).")
@click.option("--value", type=FINITE_FLOAT, default=None, help="The constant c of the sparse pooled map (default 1).")
@click.option("--image-size", type=IMAGE_SIZE, default=None, help="HEIGHTxWIDTH canvas (default: the model's).")
@click.option("--tile", type=POSITIVE_INT, default=None, help="Tile size in pixels.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing --out file.")
def visualize_receptive_fields_cmd(models, out, layers, **kwargs):
    """Receptive-field patterns (seed 001) of one or more MODELS (.keras files or names) side by side."""
    from tfsal.receptive import receptive_field_figure

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if layers is not None:
        kwargs["layers"] = [name.strip() for name in layers.split(",") if name.strip()]
    picture = receptive_field_figure(list(models), out, **kwargs)
    click.echo(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})")


@main.command("pseudo-label", cls=_Command)
@click.argument("teacher")
@click.option("--images", required=True, help="Folder of unlabelled images (sub-folders are read too).")
@click.option("--out", required=True, help="Output folder for the .npy maps and pseudo_labels.json.")
@click.option("--batch-size", type=POSITIVE_INT, default=None, help="Images per forward pass (default 8).")
@click.option("--overwrite", is_flag=True, default=None, help="Recompute existing maps (default: skip them).")
@click.option("--quiet", is_flag=True, default=None, help="No progress bar.")
def pseudo_label_cmd(teacher, images, out, quiet, **kwargs):
    """Write TEACHER's (.keras) saliency maps for unlabelled --images as .npy pseudo-labels; resumable."""
    from tfsal.distill import pseudo_label

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if quiet:
        kwargs["progress"] = False
    summary = pseudo_label(teacher, images, out, **kwargs)
    h, w = summary["output_shape"]
    click.echo(f"wrote {summary['written']} map(s), skipped {summary['skipped']} existing, to {summary['out']} "
               f"({summary['kind']} maps, {h}x{w})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
