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
    with open(tmp_path / "cut" / "history.csv") as f:
        assert [line.split(",")[0] for line in f.read().split()[1:]] == ["0", "1", "2"]
    for a, b in zip(_weights(tmp_path / "full" / "last.keras"), _weights(tmp_path / "cut" / "last.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert len(full.history["loss"]) == 3 and len(resumed.history["loss"]) == 2
    assert not os.path.exists(tmp_path / "cut" / "backup" / "training_metadata.json")
    with pytest.raises(ValueError, match="no backup"):
        train(resume=str(tmp_path / "cut"), verbose=0)


def test_resume_refuses_changed_settings(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(**TINY, epochs=2, out=tmp_path / "r", callbacks=[_Crash(after_epoch=0)])
    with pytest.raises(ValueError, match="learning_rate"):
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
