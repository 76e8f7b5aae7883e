"""Score .tflite files with the MIT-benchmark metrics (tfsal.evaluate runs them through tfsal.runtime), as on the phone.

The .tflite rows of export/README.md's accuracy tables::

    python experiments/eval_tflite.py FILE.tflite ... [--data ../shared/data/osie] [--split test]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--data", default="../shared/data/osie")
    p.add_argument("--split", default="test")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    from tfsal.evaluate import evaluate
    from tfsal.runtime import resolve_model

    for path in args.files:  # each file at its own input size, (de)quantised as an app does
        res = evaluate(resolve_model(path, num_threads=args.threads), data=args.data, split=args.split,
                       progress=False)
        print(path, {k: round(v[0], 3) for k, v in res.summary().items()})


if __name__ == "__main__":
    main()
