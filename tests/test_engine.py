"""Training engine: resumable runs, deterministic epochs, multi-replica and mixed precision (issue 10)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from tfsal.train import train
from tfsal.training import TrainConfig
from tfsal.training.config import resume_state

# A small, fast-to-trace model with BatchNorm (its moving statistics must survive a resume too).
TINY = dict(model="shallow-bn", image_size=(32, 32), batch_size=4, max_images=8, num_preview=2, verbose=0)


class _Crash(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt("simulated crash")


def _weights(path):
    return keras.models.load_model(path, compile=False).get_weights()


def test_resume_matches_uninterrupted_run(tmp_path):
    full = train(**TINY, epochs=3, out=tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(**TINY, epochs=3, out=tmp_path / "cut", callbacks=[_Crash(after_epoch=0)])
    assert os.path.isfile(tmp_path / "cut" / "backup" / "training_metadata.json")
    resumed = train(resume=str(tmp_path / "cut"), verbose=0, num_preview=2)
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert config["resumed_at_epochs"] == [1] and config["epochs"] == 3
    assert TrainConfig.from_json(tmp_path / "cut") == TrainConfig.from_json(tmp_path / "full")  # same settings
    with open(tmp_path / "cut" / "history.csv") as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1", "2"]
    for a, b in zip(_weights(tmp_path / "full" / "last.keras"), _weights(tmp_path / "cut" / "last.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert len(full.history["loss"]) == 3 and len(resumed.history["loss"]) == 2
    assert not os.path.exists(tmp_path / "cut" / "backup" / "training_metadata.json")
    with pytest.raises(ValueError, match="no backup"):
        train(resume=str(tmp_path / "cut"), verbose=0)


def test_train_config_round_trips_through_json(tmp_path):
    cfg = TrainConfig("shallow-bn", data=[str(tmp_path / "a"), str(tmp_path / "b")], image_size=[32, 48], epochs=3,
                      teacher=tmp_path / "t.keras", output_blur=None, int8_ready=False, num_preview=2)
    assert cfg.data == (str(tmp_path / "a"), str(tmp_path / "b")) and cfg.image_size == (32, 48)
    assert cfg.teacher == str(tmp_path / "t.keras")                    # paths as strings, lists as tuples
    (tmp_path / "config.json").write_text(json.dumps({**cfg.asdict(), "replicas": 1, "versions": {}}))
    assert TrainConfig.from_json(tmp_path) == cfg                       # the run's facts are not settings
    assert TrainConfig.from_dict({"model": "salnet"}) == TrainConfig(model="salnet")  # older config.json: defaults
    with pytest.raises(Exception):
        cfg.epochs = 4                                                  # frozen


def test_one_deadline_callback_stops_fit_once_its_budget_is_spent():
    import time

    from tfsal.training import Deadline

    assert not Deadline(None).expired()
    clock, model = Deadline(0.01), keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    clock.set_model(model)
    time.sleep(0.02)
    clock.on_train_batch_end(0)
    assert clock.expired() and model.stop_training


def test_resume_reads_its_settings_from_config_json_and_refuses_changed_ones(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(**TINY, epochs=2, out=tmp_path / "r", callbacks=[_Crash(after_epoch=0)])
    recorded = json.loads((tmp_path / "r" / "config.json").read_text())
    stored = TrainConfig.from_json(tmp_path / "r")
    assert stored.asdict() == {k: recorded[k] for k in stored.asdict()}  # config.json = asdict + the run's facts
    assert (stored.model, stored.image_size, stored.epochs, stored.batch_size) == ("shallow-bn", (32, 32), 2, 4)
    assert stored.recipe == "shallow" and stored.learning_rate == 0.03   # resolved from the recipe
    config, start, _ = resume_state(tmp_path / "r", TrainConfig(epochs=3, num_preview=1))
    assert config == stored.replace(epochs=3, num_preview=1) and start == 1
    # resume builds its run from config.json: a setting edited there is what the resumed run uses
    (tmp_path / "r" / "config.json").write_text(json.dumps({**recorded, "learning_rate": 0.5}))
    assert resume_state(tmp_path / "r", TrainConfig())[0].learning_rate == 0.5
    (tmp_path / "r" / "config.json").write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="learning_rate=0.5"):
        train(resume=str(tmp_path / "r"), learning_rate=0.5, verbose=0)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        train(resume=str(tmp_path / "nothing"), verbose=0)


def test_same_seed_same_first_epoch_losses(tmp_path):
    a = train(**TINY, epochs=1, out=tmp_path / "a")
    b = train(**TINY, epochs=1, out=tmp_path / "b")
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)


def test_bf16_mixed_precision_keeps_float32_output(tmp_path):
    result = train(**TINY, epochs=1, out=tmp_path / "bf16", mixed_precision="bf16")
    model = keras.models.load_model(result.model_path, compile=False)
    assert model.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    assert np.isfinite(result.history["loss"]).all()


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfsal.train import train
    r = train("shallow-bn", image_size=(32, 32), batch_size=4, max_images=8, epochs=1, num_preview=1, verbose=0,
              strategy="mirrored", out=sys.argv[1])
    print(json.dumps({"replicas": json.load(open(sys.argv[1] + "/config.json"))["replicas"],
                      "loss": r.history["loss"]}))
""")


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    out = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "m")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and np.isfinite(result["loss"]).all()


MULTIWORKER = textwrap.dedent("""
    import json, os, sys
    index, ports, out = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": index}})
    from tfsal.train import train
    r = train("shallow-bn", image_size=(32, 32), batch_size=4, max_images=8, epochs=1, num_preview=1, verbose=0,
              strategy="multiworker", out=out)
    print(json.dumps({"replicas": json.load(open(r.run_dir + "/config.json"))["replicas"], "loss": r.history["loss"],
                      "run_dir": r.run_dir}))
""")


def _free_ports(n):
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_strategy_across_two_local_processes(tmp_path):
    """Two worker processes on loopback train one epoch together; both stop by themselves (bounded by timeout)."""
    ports = ",".join(str(p) for p in _free_ports(2))
    procs = [subprocess.Popen([sys.executable, "-c", MULTIWORKER, str(i), ports, str(tmp_path / "run")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    results = []
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
        assert results[-1]["replicas"] == 2 and np.isfinite(results[-1]["loss"]).all()
    # the chief writes the run directory asked for, worker 1 its own beside it
    assert [r["run_dir"] for r in results] == [str(tmp_path / "run"), str(tmp_path / "run-worker1")]
    # one synchronous job: both workers log the same (all-reduced) loss and end with the same trainable weights
    # (BatchNorm moving statistics stay per worker, as in Keras and PyTorch DDP without synchronised BN)
    np.testing.assert_allclose(results[0]["loss"], results[1]["loss"], rtol=1e-6)
    m0, m1 = (keras.models.load_model(r["run_dir"] + "/last.keras", compile=False) for r in results)
    for a, b in zip(m0.trainable_weights, m1.trainable_weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7, err_msg=a.path)


class _CrashFirstBatch(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        raise KeyboardInterrupt("simulated Ctrl-C before the first epoch ends")


def test_run_stopped_before_its_first_epoch_resumes_from_epoch_0(tmp_path):
    out = tmp_path / "early"
    out.mkdir()  # an existing empty folder is a valid --out
    with pytest.raises(KeyboardInterrupt):
        train(**TINY, epochs=1, out=out, callbacks=[_CrashFirstBatch()])
    assert (out / "config.json").is_file() and not (out / "backup" / "training_metadata.json").exists()
    resumed = train(resume=str(out), verbose=0, num_preview=2)
    config = json.loads((out / "config.json").read_text())
    assert config["resumed_at_epochs"] == [0] and len(resumed.history["loss"]) == 1
    assert (out / "metrics.json").is_file() and (out / "val_grid.png").is_file()
    with pytest.raises(ValueError, match="run finished"):
        train(resume=str(out), verbose=0)


def _mixed_folder(root, n_train=3, n_val=3, fixations=True):
    """A generic images/ + maps/ (+ fixations/) dataset whose images alternate landscape 32x48 and portrait 48x32."""
    import cv2

    from conftest import write_jpeg
    from tfsal.data import split_of

    need, i, k = {"train": n_train, "val": n_val}, 0, 0
    for d in ("images", "maps") + (("fixations",) if fixations else ()):
        os.makedirs(root / d, exist_ok=True)
    while any(need.values()):
        stem, i = f"im{i:03d}", i + 1
        if need.get(split_of(stem), 0) == 0:
            continue
        need[split_of(stem)] -= 1
        h, w = (48, 32) if k % 2 else (32, 48)
        k += 1
        write_jpeg(str(root / "images" / f"{stem}.jpg"), h, w, seed=i)
        yy, xx = np.mgrid[:h, :w]
        blob = np.exp(-((xx - w / 3) ** 2 + (yy - h / 2) ** 2) / 40.0)
        cv2.imwrite(str(root / "maps" / f"{stem}.png"), np.round(blob / blob.max() * 255).astype(np.uint8))
        if fixations:
            np.save(root / "fixations" / f"{stem}.npy", np.array([[w / 3, h / 2], [w / 2, h / 4]], np.float32))
    return root


def test_cli_train_on_mixed_portrait_and_landscape_images(tmp_path):
    """Issue 16: the preview grid of mixed orientations crashed after fit and metrics.json was lost."""
    from click.testing import CliRunner

    from tfsal.cli import main

    data = _mixed_folder(tmp_path / "mixed")
    result = CliRunner().invoke(main, ["train", "shallow-bn", "--data", str(data), "--image-size", "32x32",
                                       "--epochs", "1", "--batch-size", "2", "--out", str(tmp_path / "run")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["images"] == 3 and np.isfinite(metrics["model"]["NSS"]["mean"]) and "error" not in metrics
    import cv2

    grid = cv2.imread(str(tmp_path / "run" / "val_grid.png"))
    assert grid is not None and grid.shape == (3 * 52, 5 * 52, 3)  # 3 rows of five 48x48 letterboxed tiles


def test_a_failed_report_step_is_a_warning_and_keeps_metrics_json(tmp_path, caplog):
    data = _mixed_folder(tmp_path / "maps_only", fixations=False)  # maps but no fixations: nothing to score
    with caplog.at_level("WARNING", logger="tfsal.train"):
        result = train("shallow-bn", data=str(data), image_size=(32, 32), epochs=1, batch_size=2, verbose=0,
                       out=tmp_path / "run")
    assert result.metrics == {} and result.grid_path and os.path.isfile(result.grid_path)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "has no fixations" in metrics["error"] and metrics["images"] == 3
    assert any("validation metrics not computed" in r.getMessage() for r in caplog.records)
