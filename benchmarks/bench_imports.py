"""Import cost of tfsal's layers: wall time of `import ...` in a fresh process, and whether TensorFlow got imported.

Compares two versions side by side in one run, rounds interleaved (the machine is noisy): "before" is a git
revision extracted to a temporary folder (default 67968ca, before issue 18's layer work), "after" is this checkout.
``import tfsal.models`` should not import TensorFlow (a lazy front door: builders load on first use), and
``tfsal.runtime`` / ``tfsal.predict`` (what runs .tflite / .onnx files) never.

    nice -n 15 python benchmarks/bench_imports.py [--before-rev REV] [--rounds 3]

Measured (2 shared cores under heavy load, 3 rounds, medians, seconds before → after): ``import tfsal.models``
36.88 → 1.27 (ratio 29.1; TensorFlow no longer imported), ``import tfsal.predict, tfsal.runtime`` 1.40 → 1.09
(1.3), ``import tfsal.viz`` 0.95 → 1.20 (0.8), ``import tfsal`` 0.04 → 0.00; an earlier run of the same
comparison gave 1.24 → 1.48 for predict + runtime, so differences under ~0.3 s are the machine's noise.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATEMENTS = ["import tfsal", "import tfsal.models", "import tfsal.predict, tfsal.runtime", "import tfsal.viz"]


def extract(rev, dest):
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "tfsal"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def run_once(root, statement):
    code = (f"import sys, time\nt = time.perf_counter()\n{statement}\n"
            "print(time.perf_counter() - t, int('tensorflow' in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir(), check=True).stdout.split()
    return float(out[0]), out[1] == "1"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-rev", default="67968ca")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_imports_") as tmp:
        roots = {"before": extract(args.before_rev, tmp), "after": REPO}
        times = {(v, s): [] for v in roots for s in STATEMENTS}
        tf = {}
        for _ in range(args.rounds):
            for s in STATEMENTS:
                for v, root in roots.items():
                    wall, tf[(v, s)] = run_once(root, s)
                    times[(v, s)].append(wall)
    print(f"{'statement':<38}{'before s':>10}{'after s':>10}{'ratio':>8}{'TF before':>11}{'TF after':>10}")
    for s in STATEMENTS:
        b, a = (statistics.median(times[(v, s)]) for v in ("before", "after"))
        print(f"{s:<38}{b:>10.2f}{a:>10.2f}{b / a:>8.1f}{str(tf[('before', s)]):>11}{str(tf[('after', s)]):>10}")


if __name__ == "__main__":
    main()
