"""Score .tflite files with the MIT-benchmark metrics (tfsal.evaluate on a LiteRT callable), as on the phone.

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
    from tfsal.export import _TFLiteRunner, prepare_images

    for path in args.files:
        runner = _TFLiteRunner(path, num_threads=args.threads)
        size = tuple(int(v) for v in runner.inp["shape"][1:3])  # the file's own input size

        def saliency(image, runner=runner, size=size):
            return runner(prepare_images([image], size))[0, ..., 0]

        res = evaluate(saliency, data=args.data, split=args.split, progress=False)
        print(path, {k: round(v[0], 3) for k, v in res.summary().items()})


if __name__ == "__main__":
    main()
