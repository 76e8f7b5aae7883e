"""The ``tfsal`` command line. Each command parses, calls one public Python function, and prints.

Options default to ``None`` so the Python functions' defaults are the single source of truth.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the CLI

import click  # noqa: E402

# Errors a user can cause with bad input: printed as one line "Error: ..." with exit status 1.
_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, RuntimeError)


class _Command(click.Command):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as err:
            raise click.ClickException(str(err)) from err


def _size(ctx, param, value):
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 192x256; got {value!r}") from None
    return h, w


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tfsal")
def main():
    """tfsal: visual saliency prediction (train, predict, inspect models)."""


@main.command("models", cls=_Command)
def models_cmd():
    """List the registered model names."""
    from tfsal.models import list_models, model_info

    for name in list_models(include_aliases=True):
        entry = model_info(name)
        alias = f"  (alias of {entry.alias_of})" if entry.alias_of else ""
        h, w, _ = entry.default_input_shape
        click.echo(f"{name:<16} input {h}x{w}{alias}")


@main.command("info", cls=_Command)
@click.argument("name")
@click.option("--image-size", callback=_size, default=None, help="HEIGHTxWIDTH (default: the model's).")
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


@main.command("train", cls=_Command)
@click.argument("model")
@click.option("--data", default=None, help="'demo' (default) or a dataset folder.")
@click.option("--epochs", type=int, default=None, help="Epochs (default: the recipe's; small on the demo data).")
@click.option("--batch-size", type=int, default=None)
@click.option("--image-size", callback=_size, default=None, help="HEIGHTxWIDTH, multiples of 32 (default 192x256).")
@click.option("--lr", "learning_rate", type=float, default=None, help="Initial learning rate.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default=None)
@click.option("--loss", default=None, help="bce | mse | kld | kld_cc (default: the recipe's).")
@click.option("--weights", default=None, help="None, 'imagenet' or a weights path.")
@click.option("--out", default=None, help="Run directory (must not exist; default runs/MODEL-TIMESTAMP).")
@click.option("--seed", type=int, default=None)
def train_cmd(model, **kwargs):
    """Train MODEL (e.g. fastsal) and write a run directory with the best .keras model, logs and pictures."""
    from tfsal.evaluate import format_table
    from tfsal.train import train

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    result = train(model, **kwargs)
    click.echo(f"\nrun directory: {result.run_dir}")
    click.echo(f"best model:    {result.model_path}")
    click.echo(f"TensorBoard:   tensorboard --logdir {os.path.join(result.run_dir, 'logs')}")
    click.echo(f"preview grid:  {result.grid_path}")
    click.echo("\nvalidation metrics (mean ± std over images):")
    click.echo(format_table(result.metrics))


@main.command("predict", cls=_Command)
@click.argument("model_path")
@click.argument("inputs")
@click.option("--out", required=True, help="Output folder for the maps.")
@click.option("--npy", "save_npy", is_flag=True, default=None, help="Also write raw float32 .npy maps.")
@click.option("--batch-size", type=int, default=None)
@click.option("--overwrite", is_flag=True, default=None, help="Replace existing output files.")
def predict_cmd(model_path, inputs, out, **kwargs):
    """Write saliency maps of IMAGE_OR_DIR at each image's own resolution, using MODEL_PATH (.keras)."""
    from tfsal.predict import predict

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    written = predict(model_path, inputs, out, **kwargs)
    click.echo(f"wrote {len(written)} file(s) to {out}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
