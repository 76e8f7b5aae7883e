"""Wall time and log noise of `tfsal` start-up: --help, a command's --help, an argument error, `tfsal models`.

Compares two versions of tfsal side by side in one run, rounds interleaved (the machine is noisy): "before" is a
git revision extracted to a temporary folder (default 84e9a5b, the commit before issue 16's CLI work), "after" is
this checkout. Each row runs `python -m tfsal.cli ARGS` in a fresh process with that version first on PYTHONPATH and
TF_CPP_MIN_LOG_LEVEL unset (as a user's shell), and reports the median wall time, the ratio before / after, the
number of lines written to stderr (TensorFlow's start-up logging) and whether TensorFlow was imported at all.

    nice -n 15 python benchmarks/bench_cli_start.py [--before-rev REV] [--rounds 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = [
    ("--help",),
    ("train", "--help"),
    ("train", "fastsal", "--batch-size", "x"),  # an argument error both versions refuse
    ("train", "fastsal", "--batch-size", "0"),  # before: accepted (trains with batch 8); after: refused
    ("models",),
]

# Prints whether tensorflow got imported, after running the CLI in-process.
PROBE = ("import sys, runpy\nsys.argv = ['tfsal'] + sys.argv[1:]\ncode = 0\ntry:\n    runpy.run_module('tfsal.cli', "
         "run_name='__main__')\nexcept SystemExit as e:\n    code = e.code or 0\nsys.stdout.write('\\nTF=%d\\n' % "
         "('tensorflow' in sys.modules))\nsys.exit(code)\n")


def extract(rev, dest):
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "tfsal"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def run_once(root, args, budget_s=120):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")}
    env["PYTHONPATH"] = root
    if args[:2] == ("train", "fastsal") and args[-1] == "0":
        args = args + ("--epochs", "1", "--max-images", "1", "--image-size", "32x32", "--out",
                       os.path.join(tempfile.mkdtemp(prefix="bench_cli_"), "run"))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                         timeout=budget_s, cwd=tempfile.gettempdir())  # not the repo: '' on sys.path is the cwd
    wall = time.perf_counter() - t
    tf_imported = out.stdout.strip().endswith("TF=1")
    noise = [line for line in out.stderr.splitlines() if line.strip() and not line.startswith(("Error", "Usage",
                                                                                                "Try "))]
    return wall, len(noise), tf_imported, out.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-rev", default="84e9a5b")
    parser.add_argument("--rounds", type=int, default=5)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"before": extract(a.before_rev, tmp), "after": REPO}
        runs = {(v, c): [] for v in versions for c in COMMANDS}
        for _ in range(a.rounds):
            for cmd in COMMANDS:
                for name, root in versions.items():  # interleaved: before, after, before, after, ...
                    runs[(name, cmd)].append(run_once(root, cmd))
    print(f"tfsal CLI start-up, {a.rounds} rounds interleaved, median wall s; before = {a.before_rev}, after = "
          f"this checkout; load average {os.getloadavg()[0]:.2f}")
    print("| command | before s | after s | before / after | stderr lines before / after | TF imported "
          "before / after | exit before / after |")
    print("|---|---|---|---|---|---|---|")
    for cmd in COMMANDS:
        b, f = runs[("before", cmd)], runs[("after", cmd)]
        mb, mf = statistics.median(r[0] for r in b), statistics.median(r[0] for r in f)
        print(f"| tfsal {' '.join(cmd)} | {mb:.2f} | {mf:.2f} | {mb / mf:.1f}x | {b[-1][1]} / {f[-1][1]} | "
              f"{'yes' if b[-1][2] else 'no'} / {'yes' if f[-1][2] else 'no'} | {b[-1][3]} / {f[-1][3]} |")


if __name__ == "__main__":
    main()
