"""Bad input to every command: a non-zero exit, one line naming the value or file, nothing existing overwritten, no
half-written file. Also: internal errors say so (and --debug / TFSAL_DEBUG show the traceback), and --help and
argument errors do not import TensorFlow."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_conv_model, write_jpeg


@pytest.fixture(scope="session")
def ws(tmp_path_factory):
    """A workspace: a tiny model, images, existing outputs that must survive, broken inputs."""
    root = tmp_path_factory.mktemp("cli_errors")
    model = str(root / "tiny.keras")
    tiny_conv_model((32, 48, 3)).save(model)
    write_jpeg(str(root / "img.jpg"), 40, 56)
    write_jpeg(str(root / "imgs" / "a.jpg"), 40, 56, seed=1)
    (root / "existing.png").write_bytes(b"an existing picture that must survive")
    (root / "existing.json").write_text('{"keep": true}')
    (root / "existing.tflite").write_bytes(b"an existing model file")
    (root / "existing.keras").write_bytes(b"an existing keras file")
    (root / "bad.jpg").write_text("this is not an image")
    (root / "model.h5").write_text("not a keras file")
    (root / "empty").mkdir()
    (root / "run").mkdir()
    (root / "run" / "notes.txt").write_text("a non-empty folder")
    return root


def _snapshot(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


# (id, argv with {ws} for the workspace, exit code, needles that the one error line must contain)
CASES = [
    # -- shared options: refused while parsing (exit 2), the same message for every command
    ("train-batch-0", "train fastsal --batch-size 0", 2, ["--batch-size", "positive integer", "'0'"]),
    ("train-batch-neg", "train fastsal --batch-size -3", 2, ["--batch-size", "'-3'"]),
    ("train-epochs-0", "train fastsal --epochs 0", 2, ["--epochs", "'0'"]),
    ("train-epochs-neg", "train fastsal --epochs -2", 2, ["--epochs", "'-2'"]),
    ("train-epochs-float", "train fastsal --epochs 1.5", 2, ["--epochs", "'1.5'"]),
    ("train-lr-0", "train fastsal --lr 0", 2, ["--lr", "positive number", "'0'"]),
    ("train-lr-nan", "train fastsal --lr nan", 2, ["--lr", "'nan'"]),
    ("train-size-zero", "train fastsal --image-size 0x96", 2, ["--image-size", "'0x96'"]),
    ("train-size-one", "train fastsal --image-size 64", 2, ["--image-size", "HEIGHTxWIDTH", "'64'"]),
    ("train-size-text", "train fastsal --image-size axb", 2, ["--image-size", "'axb'"]),
    ("train-seed-neg", "train fastsal --seed -1", 2, ["--seed", "'-1'"]),
    ("train-max-images-0", "train fastsal --max-images 0", 2, ["--max-images", "'0'"]),
    ("train-time-budget-0", "train fastsal --time-budget 0", 2, ["--time-budget", "'0'"]),
    ("train-hint-neg", "train fastsal --hint-pretrain -1", 2, ["--hint-pretrain", "'-1'"]),
    ("train-teacher-weight-neg", "train fastsal --teacher-weight -0.5", 2, ["--teacher-weight", "'-0.5'"]),
    ("train-optimizer", "train fastsal --optimizer rmsprop", 2, ["--optimizer", "rmsprop"]),
    ("train-precision", "train fastsal --mixed-precision fp8", 2, ["--mixed-precision", "fp8"]),
    ("train-unknown-option", "train fastsal --epoch 3", 2, ["--epoch"]),
    ("train-no-model", "train", 2, ["missing MODEL"]),
    ("predict-batch-0", "predict {ws}/tiny.keras {ws}/imgs --out {ws}/maps --batch-size 0", 2, ["--batch-size", "'0'"]),
    ("evaluate-batch-0", "evaluate centre-bias --batch-size 0", 2, ["--batch-size", "'0'"]),
    ("evaluate-seed-neg", "evaluate centre-bias --seed -5", 2, ["--seed", "'-5'"]),
    ("pseudo-batch-0", "pseudo-label {ws}/tiny.keras --images {ws}/imgs --out {ws}/p --batch-size 0", 2,
     ["--batch-size", "'0'"]),
    ("finetune-epochs-0", "int8-finetune {ws}/tiny.keras --out {ws}/f.keras --epochs 0", 2, ["--epochs", "'0'"]),
    ("finetune-weight-neg", "int8-finetune {ws}/tiny.keras --out {ws}/f.keras --consistency-weight -1", 2,
     ["--consistency-weight", "'-1'"]),
    ("finetune-lr-neg", "int8-finetune {ws}/tiny.keras --out {ws}/f.keras --lr -1e-4", 2, ["--lr", "'-1e-4'"]),
    ("export-min-cc-2", "export {ws}/tiny.keras --min-cc 2", 2, ["--min-cc", "[-1, 1]", "'2'"]),
    ("export-min-cc-neg", "export {ws}/tiny.keras --min-cc -1.5", 2, ["--min-cc", "'-1.5'"]),
    ("export-num-parity-0", "export {ws}/tiny.keras --num-parity 0", 2, ["--num-parity", "'0'"]),
    ("export-num-calibration-0", "export {ws}/tiny.keras --quantize int8 --num-calibration 0", 2,
     ["--num-calibration", "'0'"]),
    ("benchmark-threads-0", "benchmark {ws}/tiny.keras --threads 0", 2, ["--threads", "'0'"]),
    ("benchmark-threads-text", "benchmark {ws}/tiny.keras --threads 1,x", 2, ["--threads", "'1,x'"]),
    ("benchmark-runs-0", "benchmark {ws}/tiny.keras --runs 0", 2, ["--runs", "'0'"]),
    ("benchmark-warmup-neg", "benchmark {ws}/tiny.keras --warmup -1", 2, ["--warmup", "'-1'"]),
    ("benchmark-rounds-alone", "benchmark {ws}/tiny.keras --rounds 3", 2, ["--rounds", "needs --runtimes"]),
    ("benchmark-nothing", "benchmark", 2, ["missing MODEL_PATHS", "--runtimes"]),
    ("overlay-alpha-5", "visualize overlay {ws}/tiny.keras {ws}/img.jpg --out {ws}/o.png --alpha 5", 2,
     ["--alpha", "[0, 1]", "'5'"]),
    ("overlay-alpha-neg", "visualize overlay {ws}/tiny.keras {ws}/img.jpg --out {ws}/o.png --alpha -0.1", 2,
     ["--alpha", "'-0.1'"]),
    ("filters-tile-0", "visualize filters {ws}/tiny.keras --out {ws}/f.png --tile 0", 2, ["--tile", "'0'"]),
    ("rf-channels-0", "visualize receptive-fields {ws}/tiny.keras --out {ws}/r.png --channels 0", 2,
     ["--channels", "'0'"]),
    ("rf-channel-neg", "visualize receptive-fields {ws}/tiny.keras --out {ws}/r.png --channel -1", 2,
     ["--channel", "'-1'"]),
    ("rf-value-inf", "visualize receptive-fields {ws}/tiny.keras --out {ws}/r.png --value inf", 2,
     ["--value", "'inf'"]),
    ("fixations-num-0", "show-fixations demo --out {ws}/x.png --num 0", 2, ["--num", "'0'"]),
    ("info-size-0", "info fastsal --image-size 0x0", 2, ["--image-size", "'0x0'"]),
    ("no-such-command", "trian fastsal", 2, ["trian"]),
    # -- files and names: refused by the functions (exit 1), before any work
    ("train-unknown-model", "train nonet --epochs 1", 1, ["unknown model 'nonet'"]),
    ("train-missing-data", "train fastsal --data {ws}/nowhere", 1, ["nowhere", "does not exist"]),
    ("train-out-not-empty", "train fastsal --epochs 1 --out {ws}/run", 1, ["run", "already exists"]),
    ("train-out-is-file", "train fastsal --epochs 1 --out {ws}/existing.png", 1, ["existing.png", "file"]),
    ("train-size-multiple", "train fastsal --image-size 100x128 --out {ws}/r2", 1, ["multiples of 32", "100x128"]),
    ("train-resume-nothing", "train --resume {ws}/empty", 1, ["empty", "no config.json"]),
    ("train-unknown-recipe", "train fastsal --recipe fast", 1, ["unknown recipe 'fast'"]),
    ("train-unknown-loss", "train fastsal --loss l7", 1, ["unknown loss 'l7'"]),
    ("overlay-out-exists", "visualize overlay {ws}/tiny.keras {ws}/img.jpg --out {ws}/existing.png", 1,
     ["existing.png", "already exists", "--overwrite"]),
    ("overlay-out-jpg", "visualize overlay {ws}/tiny.keras {ws}/img.jpg --out {ws}/o.jpg", 1, ["o.jpg", ".png"]),
    ("overlay-missing-model", "visualize overlay {ws}/missing.keras {ws}/img.jpg --out {ws}/existing.png", 1,
     ["missing.keras", "does not exist"]),
    ("overlay-missing-image", "visualize overlay {ws}/tiny.keras {ws}/nope.jpg --out {ws}/o.png", 1,
     ["nope.jpg", "does not exist"]),
    ("overlay-bad-image", "visualize overlay {ws}/tiny.keras {ws}/bad.jpg --out {ws}/o.png", 1,
     ["bad.jpg", "not an image"]),
    ("filters-out-exists", "visualize filters {ws}/tiny.keras --out {ws}/existing.png", 1,
     ["existing.png", "already exists"]),
    ("filters-unknown-model", "visualize filters nonet --out {ws}/f.png", 1, ["unknown model 'nonet'"]),
    ("rf-out-exists", "visualize receptive-fields {ws}/tiny.keras --out {ws}/existing.png", 1,
     ["existing.png", "already exists"]),
    ("rf-bad-layer", "visualize receptive-fields {ws}/tiny.keras --out {ws}/r.png --layers c1", 1, ["'c1'"]),
    ("fixations-out-exists", "show-fixations demo --out {ws}/existing.png", 1, ["existing.png", "already exists"]),
    ("fixations-missing-data", "show-fixations {ws}/nowhere --out {ws}/x.png", 1, ["nowhere", "does not exist"]),
    ("export-h5", "export {ws}/model.h5", 1, ["model.h5", "expected a .keras model file"]),
    ("export-missing", "export {ws}/missing.keras", 1, ["missing.keras", "does not exist"]),
    ("export-out-exists", "export {ws}/tiny.keras --out {ws}/existing.tflite", 1, ["existing.tflite", "already exists"]),
    ("export-quantize", "export {ws}/tiny.keras --quantize int4", 1, ["'int4'"]),
    ("export-io-dtype", "export {ws}/tiny.keras --quantize float16 --io-dtype uint8", 1, ["io_dtype 'uint8'"]),
    ("export-float-ops", "export {ws}/tiny.keras --quantize float16 --float-ops dec", 1,
     ["float_ops='dec'", "only applies to quantize='int8'"]),
    ("benchmark-missing", "benchmark {ws}/nope.tflite", 1, ["nope.tflite", "does not exist"]),
    ("benchmark-suffix", "benchmark {ws}/model.h5", 1, ["model.h5", "expected a"]),
    ("evaluate-unknown", "evaluate centre-bais", 1, ["centre-bais"]),
    ("evaluate-missing-data", "evaluate centre-bias --data {ws}/nowhere", 1, ["nowhere", "does not exist"]),
    ("evaluate-out-exists", "evaluate centre-bias --out {ws}/existing.json", 1, ["existing.json", "already exists"]),
    ("predict-missing-model", "predict {ws}/missing.keras {ws}/imgs --out {ws}/maps", 1, ["missing.keras"]),
    ("predict-missing-input", "predict {ws}/tiny.keras {ws}/nowhere --out {ws}/maps", 1, ["nowhere"]),
    ("pseudo-missing-teacher", "pseudo-label {ws}/missing.keras --images {ws}/imgs --out {ws}/p", 1,
     ["missing.keras"]),
    ("finetune-out-exists", "int8-finetune {ws}/tiny.keras --out {ws}/existing.keras", 1,
     ["existing.keras", "already exists"]),
    ("info-unknown", "info nonet", 1, ["unknown model 'nonet'"]),
]


@pytest.mark.parametrize("case_id, argv, code, needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(ws, case_id, argv, code, needles):
    from tfsal.cli import main

    before = _snapshot(ws)
    args = argv.replace("{ws}", str(ws)).split()
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    assert _snapshot(ws) == before  # nothing written, nothing overwritten, no temporary file left


def test_table_has_at_least_40_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_same_message_for_a_shared_option_everywhere(ws):
    from tfsal.cli import main

    messages = set()
    for argv in ("train fastsal", f"predict {ws}/tiny.keras {ws}/imgs --out {ws}/m", "evaluate centre-bias",
                 f"pseudo-label {ws}/tiny.keras --images {ws}/imgs --out {ws}/p",
                 f"int8-finetune {ws}/tiny.keras --out {ws}/f.keras"):
        result = CliRunner().invoke(main, [*argv.split(), "--batch-size", "0"])
        messages.add(result.output.split("(see")[0].strip())
    assert messages == {"Error: Invalid value for '--batch-size': must be a positive integer; got '0'"}


def test_internal_error_is_one_line_with_the_way_to_the_traceback(monkeypatch):
    import tfsal.models
    from tfsal.cli import EXIT_INTERNAL, main

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(tfsal.models, "list_models", broken)
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == EXIT_INTERNAL
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Internal error"), result.output
    assert "TypeError" in lines[0] and "tfsal --debug models" in lines[0] and "TFSAL_DEBUG=1" in lines[0]
    for debug in (["--debug", "models"], ["models"]):
        env = {} if debug[0] == "--debug" else {"TFSAL_DEBUG": "1"}
        result = CliRunner(env=env).invoke(main, debug)
        assert isinstance(result.exception, TypeError)  # the real exception, with its traceback


def test_a_deliberate_value_error_is_a_user_error_and_a_builtin_one_is_not():
    from tfsal.errors import USER_ERRORS, UserError

    assert issubclass(UserError, ValueError) and isinstance(UserError("x"), USER_ERRORS)
    try:
        range(0, 1, 0)
    except ValueError as err:
        assert not isinstance(err, USER_ERRORS)


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["export", "--help"], ["train", "--batch-size", "0"],
                                  ["visualize", "overlay", "m", "i", "--out", "o.png", "--alpha", "5"]])
def test_help_and_argument_errors_do_not_import_tensorflow(argv):
    code = ("import sys\nfrom tfsal.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    code = e.code\nprint('TF' if 'tensorflow' in sys.modules else 'no TF', code)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(__file__)),
                                                        os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip().splitlines()[-1].startswith("no TF"), out.stdout + out.stderr


def test_atomic_write_never_clobbers_and_leaves_no_temporary_file(tmp_path):
    from tfsal._io import atomic_write, write_json, write_png

    target = tmp_path / "a.json"
    write_json(target, {"a": 1})
    with pytest.raises(FileExistsError, match="a.json"):
        atomic_write(target, b"other", overwrite=False)
    assert target.read_text().strip().startswith("{") and sorted(os.listdir(tmp_path)) == ["a.json"]
    write_png(tmp_path / "p.png", np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="p.jpg"):
        write_png(tmp_path / "p.jpg", np.zeros((4, 5), np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["a.json", "p.png"]


def test_shared_checks():
    from tfsal import checks
    from tfsal.errors import UserError

    assert checks.positive_int("8", "n") == 8 and checks.image_size("64x96") == (64, 96)
    assert checks.int_list("1,2", "threads") == (1, 2) and checks.fraction(1, "alpha") == 1.0
    for bad in (0, -1, 1.5, True, "x", None):
        with pytest.raises(UserError, match="positive integer"):
            checks.positive_int(bad, "batch_size")
    with pytest.raises(UserError, match=r"\[-1, 1\]; got 2"):
        checks.correlation(2, "min_cc")
    with pytest.raises(FileExistsError):
        checks.new_dir(__file__, "run directory")
