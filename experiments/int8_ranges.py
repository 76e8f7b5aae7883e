"""Activation ranges of a FastSal-A model's decoder: why its full-integer (int8) export loses accuracy.

Prints max |activation| (and the 99.99th / 99.9th percentiles) of the decoder's tensors on calibration images (the
demo train split, as ``tfsal export --quantize int8`` uses). FastSal's shared block ``B(y) = 2y + body(y)`` doubles
the residual stream (``fastsal_dec*_add``) at every level while each body (``fastsal_dec*_project_bn``) adds only
±10-25, so one int8 step of the stream is about the size of what the fine levels add (export/README.md).

Usage::

    python experiments/int8_ranges.py MODEL.keras [--images 40]
"""
import argparse

import numpy as np

LAYERS = [f"fastsal_{kind}" for level in (4, 3, 2, 1)
          for kind in (f"adapt{level}_relu", f"dec{level}_project_bn", f"dec{level}_add")] + ["fastsal_out_conv"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--images", type=int, default=40)
    args = p.parse_args(argv)

    import keras

    from tfsal.export import calibration_images
    from tfsal.predict import load_model

    model = load_model(args.model)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in LAYERS])
    images, _ = calibration_images(model.input_shape[1:3], num=args.images)
    outs = probe.predict(images, batch_size=8, verbose=0)
    print("| tensor | max abs | p99.99 | p99.9 |\n|---|---|---|---|")
    for name, out in zip(LAYERS, outs):
        a = np.abs(np.asarray(out)).ravel()
        print(f"| {name} | {a.max():.2f} | {np.percentile(a, 99.99):.2f} | {np.percentile(a, 99.9):.2f} |")


if __name__ == "__main__":
    main()
