"""Issue 25 (3): TF_CPP_MIN_LOG_LEVEL=3 is respected as a level (no TensorFlow or absl line on stderr), and an
unknown model name is refused before TensorFlow is imported (the registry's name table, no builder imported)."""
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_IMAGE = os.path.join(REPO, "tfsal", "data", "demo_osie", "stimuli", "1001.jpg")

#: A line of TensorFlow's or absl's logging: C++ (``I0000 00:00:... port.cc:153] ...``, absl's "All log messages
#: before absl::InitializeLog()" banner) or Python (``WARNING:tensorflow:...``, ``WARNING:absl:...``).
TF_LINE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|\w+:(tensorflow|absl):)|absl|cuda|oneDNN|tensorflow/")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFSAL_DEBUG")}
    env.update(PYTHONPATH=REPO, **extra)
    return env


def _python(code, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env or _env(), cwd=REPO, timeout=timeout)


@pytest.mark.parametrize("value, wants", [(None, False), ("3", False), ("7", False), ("0", True), ("2", True),
                                          ("x", True)])
def test_user_level_is_a_level(monkeypatch, value, wants):
    from tfsal._quiet import user_wants_tf_logs

    if value is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", value)
    assert user_wants_tf_logs() is wants
    assert user_wants_tf_logs(verbose=True) is True


@pytest.mark.slow  # one TensorFlow import in a fresh process: 10-25 s on 2 loaded cores
def test_level_3_no_tensorflow_line_on_stderr(tmp_path):
    """`tfsal predict` with the shipped model (imports TensorFlow, builds and runs the model), then Python-side
    TF/absl log records at ERROR: with TF_CPP_MIN_LOG_LEVEL=3 nothing of TensorFlow's or absl's reaches stderr."""
    code = (
        "import sys\n"
        "from tfsal.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "import tensorflow as tf\n"
        "from absl import logging as absl_logging\n"
        "tf.get_logger().error('tf python error'); absl_logging.error('absl python error')\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = tmp_path / "maps"
    res = _python(code, "predict", DEMO_IMAGE, "--out", out, "--quiet",
                  env=_env(TF_CPP_MIN_LOG_LEVEL="3"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("True")  # TensorFlow was imported and ran the model
    assert (out / "1001.png").is_file()
    noise = [line for line in res.stderr.splitlines() if TF_LINE.search(line)]
    assert not noise, res.stderr[-2000:]


#: One process: each command refused in turn (exit status, first line), then whether TensorFlow got imported.
_REFUSALS = """import json, sys, tfsal.models, tfsal.runtime
from tfsal.cli import main
from tfsal.errors import UserError
from tfsal.predict import predict
rows = []
for args in json.loads(sys.argv[1]):
    try:
        main(args)
    except SystemExit as e:
        rows.append([args[0], e.code])
for fn in (lambda: tfsal.runtime.resolve_model("nosuchmodel"), lambda: tfsal.models.model_info("fastsla"),
           lambda: predict("nosuchmodel", sys.argv[2], sys.argv[3], progress=False)):
    try:
        fn()
    except UserError as err:
        rows.append(["python", str(err)])
print(json.dumps({"rows": rows, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


def test_unknown_model_refused_before_tensorflow(tmp_path):
    out = str(tmp_path / "maps")
    commands = [
        ["predict", "nosuchmodel", DEMO_IMAGE, "--out", out],
        ["predict", "--model", "nosuchmodel", DEMO_IMAGE, "--out", out],
        ["info", "fastsla"],
        ["export", "nosuchmodel"],
        ["train", "nosuchmodel", "--epochs", "1"],
        ["evaluate", "nosuchmodel"],
        ["evaluate-crop", "nosuchmodel"],
        ["crop", DEMO_IMAGE, "--out", out, "--model", "nosuchmodel"],
        ["visualize", "filters", "nosuchmodel", "--out", str(tmp_path / "f.png")],
    ]
    res = _python(_REFUSALS, json.dumps(commands), DEMO_IMAGE, out)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert not report["tensorflow"] and not report["keras"], report
    assert [code for _, code in report["rows"][:len(commands)]] == [1] * len(commands), report
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == len(commands), res.stderr
    assert all("nosuchmodel" in line or "fastsla" in line for line in errors), errors
    assert "did you mean 'fastsal'" in errors[2] and "tfsal models" in errors[2]
    assert "unknown model or baseline 'nosuchmodel'" in errors[5]
    python_errors = [text for kind, text in report["rows"] if kind == "python"]
    assert len(python_errors) == 3 and all("unknown model" in e for e in python_errors), python_errors
    assert not os.path.exists(out)  # nothing written

