"""Evaluate saliency models and baselines against a dataset's fixations with the MIT-benchmark metrics.

:func:`evaluate` scores a trained model (a ``keras.Model`` or a ``.keras`` file), a callable ``image -> map`` or one
of the :data:`BASELINES` (``centre-bias``, ``uniform``, ``spectral-residual``) on one split of a dataset with all
eight metrics of :data:`tfsal.metrics.METRICS`. The ground truth is built at each image's original resolution from
its fixations (binary fixation map; blurred map of :func:`tfsal.data.saliency_map_from_fixations`); predictions are
resized to it by the metric functions. sAUC draws its negatives from the fixations of the *other* images of the same
split (:func:`tfsal.metrics.make_other_map`); IG is measured against the centre-bias map built from the dataset's
train split.

Example:
    >>> from tfsal.evaluate import evaluate
    >>> result = evaluate("centre-bias", data="demo", split="val", metrics=["NSS", "CC"], progress=False)
    >>> sorted(result.summary())
    ['CC', 'NSS']
    >>> print(result.table())  # doctest: +SKIP
"""
import csv
import dataclasses
import io
import json
import os
import sys
import time

import numpy as np

from tfsal._io import atomic_write, read_image
from tfsal._progress import Progress
from tfsal._version import __version__
from tfsal.baselines import BASELINES, spectral_residual, uniform_map
from tfsal.baselines import baseline_name as _baseline_name
from tfsal.data import centre_bias_map, detect_layout, fixation_map, read_examples, saliency_map_from_fixations
from tfsal.errors import UserError
from tfsal.layers import OutputBlur
from tfsal.metrics import DEFAULT_METRICS, METRIC_NAMES, METRICS, compute_all, make_other_map
from tfsal.metrics._numpy import _canonical
from tfsal.predict import iter_maps, predict_maps
from tfsal.runtime import MODEL_SUFFIXES, Runner, is_model_argument, resolve_model

__all__ = [
    "BASELINES",
    "DEFAULT_METRICS",
    "ALL_METRICS",
    "EvaluationResult",
    "evaluate",
    "baseline_maps",
    "as_saved_map",
    "score_maps",
    "summarize",
    "select_blur",
    "with_output_blur",
    "BLUR_SIGMAS",
    "format_table",
    "predict_examples",
]


#: All eight benchmark metrics, in canonical order (the default of :func:`evaluate`), and the fast ones printed
#: after training: both from the one table, :data:`tfsal.metrics.METRICS`.
ALL_METRICS = METRIC_NAMES


def _canonical_metrics(metrics):
    """Canonical metric names (aliases such as ``"auc_judd"`` or ``"ig"`` accepted), in canonical order."""
    if metrics is None:
        return ALL_METRICS
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = {_canonical(m) for m in metrics}
    if not names:
        raise UserError(f"expected at least one metric of {list(ALL_METRICS)}; got {metrics!r}")
    return tuple(m for m in ALL_METRICS if m in names)


# ----------------------------------------------------------------------------------------------------------------
# ground truth at each image's own resolution
# ----------------------------------------------------------------------------------------------------------------
class _GroundTruth:
    """Fixation maps, blurred maps, other-image maps (sAUC) and the centre-bias baseline (IG), built on demand.

    The centre-bias map is computed directly at each distinct image size (cached); the union of all images'
    fixations is kept per size as a count map, so the sAUC negatives of image ``i`` (every other image, rescaled
    with :func:`~tfsal.metrics.make_other_map`) cost one subtraction.
    """

    def __init__(self, examples, train_examples=None):
        for ex in examples:
            if ex.fixations is None or len(ex.fixations) == 0:
                raise UserError(f"image {ex.image_path!r} has no fixations; cannot score it")
        self.examples = list(examples)
        self.train_examples = None if train_examples is None else list(train_examples)
        self._counts = {}
        self._centre_bias = {}

    def fixation_map(self, i):
        ex = self.examples[i]
        return fixation_map(ex.normalized_fixations(), (ex.height, ex.width))

    def saliency_map(self, i):
        ex = self.examples[i]
        return saliency_map_from_fixations(ex.normalized_fixations(), (ex.height, ex.width))

    def other_map(self, i, fix=None):
        if len(self.examples) < 2:
            raise UserError(f"sAUC needs at least 2 images (negatives come from the others); got {len(self.examples)}")
        ex = self.examples[i]
        shape = (ex.height, ex.width)
        if shape not in self._counts:
            counts = np.zeros(shape, np.int32)
            for j in range(len(self.examples)):
                counts += make_other_map([self.fixation_map(j)], shape)
            self._counts[shape] = counts
        own = make_other_map([self.fixation_map(i) if fix is None else fix], shape)
        return (self._counts[shape] - own) > 0

    def centre_bias(self, shape):
        shape = (int(shape[0]), int(shape[1]))
        if shape not in self._centre_bias:
            if not self.train_examples:
                raise UserError("the centre-bias map needs training examples (train_examples); got none")
            self._centre_bias[shape] = centre_bias_map([e.normalized_fixations() for e in self.train_examples], shape)
        return self._centre_bias[shape]

    def score(self, i, pred, metrics, seed=0):
        ex = self.examples[i]
        pred = np.asarray(pred, np.float64)
        if pred.ndim == 3 and pred.shape[-1] == 1:
            pred = pred[..., 0]
        if pred.ndim != 2 or 0 in pred.shape:
            raise UserError(f"expected a 2-D saliency map for {ex.image_path!r}; got shape {pred.shape}")
        fix = self.fixation_map(i)
        need = set(metrics)
        return compute_all(
            pred,
            fixation_map=fix,
            saliency_map_gt=self.saliency_map(i) if need & {"CC", "KLD", "SIM"} else None,
            other_map=self.other_map(i, fix) if "sAUC" in need else None,
            baseline_map=self.centre_bias((ex.height, ex.width)) if "IG" in need else None,
            metrics=list(metrics),
            seed=seed,
        )


# ----------------------------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class EvaluationResult:
    """Per-image scores of one model (or baseline) on one dataset split.

    Attributes:
        model: the model's name (baseline name, ``.keras`` path, or a description of the object).
        data: the dataset (``"demo"`` or a folder).
        split: the split scored.
        metrics: metric names, in canonical order.
        images: image stems, one per scored image.
        scores: metric name → ``(N,)`` float64 array of per-image scores.
        seed: seed of the sampled metrics (AUC-Judd jitter, AUC-Borji, sAUC).
        seconds: wall time of the evaluation.
        layout: the dataset's layout (``tfsal.data.detect_layout``).
        available_images: images in the split before ``max_images``.
    """

    model: str
    data: str
    split: str
    metrics: tuple
    images: list
    scores: dict
    seed: int = 0
    seconds: float = 0.0
    layout: str = None
    available_images: int = None

    def summary(self):
        """Mean and standard deviation (over images, ``ddof=0``) per metric: ``{metric: (mean, std)}``."""
        return summarize({m: self.scores[m] for m in self.metrics})

    def table(self):
        """The summary as a plain-text table (one row named after the model)."""
        return format_table({self.model: self.summary()}, self.metrics)

    def to_dict(self):
        """A JSON-ready dict: settings, ``metrics`` (mean, std, higher_is_better) and ``per_image`` scores."""
        summary = self.summary()
        return {
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "layout": self.layout,
            "images": len(self.images),
            "available_images": self.available_images,
            "seed": self.seed,
            "seconds": round(float(self.seconds), 1),
            "tfsal_version": __version__,
            "metrics": {
                m: {"mean": summary[m][0], "std": summary[m][1], "higher_is_better": METRICS[m].higher_is_better,
                    "matlab_source": METRICS[m].matlab_file}
                for m in self.metrics
            },
            "per_image": [
                {"image": stem, **{m: float(self.scores[m][i]) for m in self.metrics}}
                for i, stem in enumerate(self.images)
            ],
        }

    def to_json(self, indent=2):
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self, per_image=False):
        """CSV text: ``metric,mean,std,images`` rows, or with ``per_image`` one row per image (``image,<metrics>``)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if per_image:
            writer.writerow(["image", *self.metrics])
            for i, stem in enumerate(self.images):
                writer.writerow([stem, *(repr(float(self.scores[m][i])) for m in self.metrics)])
        else:
            writer.writerow(["metric", "mean", "std", "images"])
            for m, (mean, std) in self.summary().items():
                writer.writerow([m, repr(mean), repr(std), len(self.images)])
        return buf.getvalue()

    def format(self, fmt="table"):
        """The result as ``"table"``, ``"json"`` or ``"csv"`` text."""
        if fmt == "table":
            return self.table()
        if fmt == "json":
            return self.to_json()
        if fmt == "csv":
            return self.to_csv()
        raise UserError(f"unknown format {fmt!r}; expected 'table', 'json' or 'csv'")

    def save(self, path, overwrite=False):
        """Write :meth:`to_json` to ``path``; refuses to replace an existing file unless ``overwrite``.

        Returns:
            ``path``.
        """
        path = os.fspath(path)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(
                f"output file {path!r} already exists; pass overwrite=True (--overwrite) to replace it")

        return atomic_write(path, self.to_json() + "\n", overwrite=overwrite)


# ----------------------------------------------------------------------------------------------------------------
# models and baselines
# ----------------------------------------------------------------------------------------------------------------
def baseline_maps(name, examples, train_examples=None):
    """Yield the maps of baseline ``name`` for ``examples``, each at its image's own size.

    Args:
        name: one of :data:`BASELINES` (aliases such as ``"center-bias"`` accepted).
        examples: :class:`~tfsal.data.Example` list.
        train_examples: the training examples whose fixations make the centre-bias map (``centre-bias`` only).

    Returns:
        A generator of ``float32`` maps ``(H_i, W_i)``.

    Example:
        >>> import tfsal
        >>> val = tfsal.data.read_examples("demo", "val")[:2]
        >>> [m.shape for m in baseline_maps("uniform", val)]
        [(192, 256), (192, 256)]
    """
    canonical = _baseline_name(name)
    if canonical is None:
        raise UserError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    gt = _GroundTruth([], train_examples)
    for ex in examples:
        shape = (ex.height, ex.width)
        if canonical == "uniform":
            yield uniform_map(shape)
        elif canonical == "centre-bias":
            yield gt.centre_bias(shape)
        else:
            yield spectral_residual(read_image(ex.image_path), out_shape=shape)


def _resolve(model_or_baseline):
    """``(kind, object, label)`` with kind ``"baseline"``, ``"model"`` (a :class:`~tfsal.runtime.Runner`) or
    ``"callable"``."""
    if isinstance(model_or_baseline, (str, os.PathLike)):
        text = os.fspath(model_or_baseline)
        canonical = _baseline_name(text)
        if canonical is not None and not os.path.isfile(text):
            return "baseline", canonical, canonical
        if os.path.exists(text) or is_model_argument(text):
            return "model", resolve_model(text), text
        raise UserError(
            f"unknown model or baseline {text!r}; expected a baseline name ({', '.join(BASELINES)}), "
            f"the path of a {', '.join(MODEL_SUFFIXES)} model file or a registered model name"
        )
    if isinstance(model_or_baseline, Runner) or (
            hasattr(model_or_baseline, "predict_on_batch") and hasattr(model_or_baseline, "input_shape")):
        runner = resolve_model(model_or_baseline)
        return "model", runner, runner.name or "model"
    if callable(model_or_baseline):
        label = getattr(model_or_baseline, "__name__", None) or type(model_or_baseline).__name__
        return "callable", model_or_baseline, label
    raise UserError(
        f"expected a baseline name ({', '.join(BASELINES)}), a .keras/.tflite/.onnx path, a keras.Model or a "
        f"callable image -> map; got {type(model_or_baseline).__name__} {model_or_baseline!r}"
    )


def _map_stream(kind, obj, examples, train_examples, batch_size):
    """Yield one prediction per example, in order (models: decoded ahead in threads, ``batch_size`` per pass)."""
    if kind == "baseline":
        yield from baseline_maps(obj, examples, train_examples)
    elif kind == "callable":
        for ex in examples:
            yield obj(read_image(ex.image_path))
    else:
        for _, m in iter_maps(obj, [e.image_path for e in examples], batch_size=batch_size):
            yield m


def _layout(data):
    if data == "demo":
        return "nus"  # the built-in OSIE subset keeps OSIE's layout
    try:
        return detect_layout(data)
    except ValueError:  # read_examples has already accepted it (e.g. a forced layout)
        return "unknown"


def evaluate(model_or_baseline, data="demo", split="val", metrics=None, batch_size=8, seed=0, progress=True,
             max_images=None):
    """Score a model or a baseline on one dataset split with the MIT-benchmark metrics.

    Ground truth is built at each image's original resolution from its fixations; predictions are resized to it by
    the metric functions. sAUC takes its negatives from the fixations of the other images of the same split (the
    image itself excluded); IG is relative to the centre-bias map of the dataset's train split.

    Args:
        model_or_baseline: a baseline name of :data:`BASELINES` (``"centre-bias"`` is built from the train split's
            fixations), anything :func:`tfsal.runtime.resolve_model` runs (a ``.keras``, ``.tflite`` or ``.onnx``
            file, a ``keras.Model`` taking raw RGB in [0, 255], a registered model name), or a callable taking an
            RGB ``uint8`` image ``(H, W, 3)`` and returning a 2-D map (any size).
        data: ``"demo"`` or a dataset folder (see :func:`tfsal.data.read_examples`).
        split: the split to score (``"val"``, ``"test"``, ``"train"`` or ``None`` for all images).
        metrics: metric names (aliases accepted, or a comma-separated string); ``None`` = all eight
            (:data:`ALL_METRICS`).
        batch_size: images per forward pass of a keras model.
        seed: seed of the sampled metrics (AUC-Judd jitter, AUC-Borji, sAUC); each image uses a fresh generator.
        progress: show a progress bar on stderr, after one line naming the dataset's layout, the split and the
            number of images.
        max_images: score only the first N images of the split (in the dataset's order).

    Returns:
        An :class:`EvaluationResult` (per-image scores; ``.summary()`` gives mean ± std per metric).

    Raises:
        ValueError: unknown baseline name or metric, bad arguments, an image without fixations.
        FileNotFoundError: missing dataset folder, model file or image.

    Example:
        >>> result = evaluate("uniform", data="demo", metrics=["NSS"], progress=False)
        >>> result.summary()["NSS"]
        (0.0, 0.0)
    """
    start_time = time.time()
    metrics = _canonical_metrics(metrics)
    for name, value in (("batch_size", batch_size), ("max_images", max_images)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise UserError(f"{name} must be a positive integer; got {value!r}")
    kind, obj, label = _resolve(model_or_baseline)
    data = os.fspath(data)
    examples = read_examples(data, split)
    available = len(examples)
    if max_images is not None:
        examples = examples[: int(max_images)]
    layout = _layout(data)
    split_name = "all" if split is None else str(split)
    if progress:
        count = (f"first {len(examples)} of {available} images (max_images)" if len(examples) < available
                 else f"{len(examples)} image(s)")
        print(f"evaluating {label} on {data} ({layout} layout), split {split_name}: {count}", file=sys.stderr)
    needs_train = "IG" in metrics or (kind == "baseline" and obj == "centre-bias")
    train_examples = read_examples(data, "train") if needs_train else None
    gt = _GroundTruth(examples, train_examples)
    maps = _map_stream(kind, obj, examples, train_examples, batch_size)
    scores = _score_stream(maps, gt, len(examples), metrics, seed, f"{label} on {split}" if progress else None)
    return EvaluationResult(
        model=label, data=data, split=str(split), metrics=metrics, images=[e.stem for e in examples],
        scores=scores, seed=seed, seconds=time.time() - start_time, layout=layout, available_images=available,
    )


# ----------------------------------------------------------------------------------------------------------------
# lower-level helpers (also used by tfsal.train)
# ----------------------------------------------------------------------------------------------------------------
def as_saved_map(saliency_map):
    """A prediction as the MIT benchmark sees it: min-max normalised to [0, 1], as when saved as an 8-bit image.

    Benchmarks score maps submitted as images (``tfsal predict`` writes them the same way), so tfsal scores every
    prediction after this normalisation, in float. It leaves NSS, CC, SIM and the AUCs unchanged and makes KLD and
    IG defined for maps with negative values (e.g. Pan's linear-output nets). A constant map stays constant (ones).

    Example:
        >>> as_saved_map(np.array([[-1.0, 1.0]])).tolist()
        [[0.0, 1.0]]
    """
    m = np.asarray(saliency_map, np.float64)
    lo, hi = np.nanmin(m), np.nanmax(m)
    if not hi > lo:
        return np.ones_like(m)
    return (m - lo) / (hi - lo)


def score_maps(maps, examples, metrics=DEFAULT_METRICS, progress=False, train_examples=None, seed=0):
    """Score predicted maps against each example's ground truth at the image's own resolution.

    The ground truth is built from the example's fixations at its original size (binary fixation map for NSS and
    the AUCs; the blurred map of :func:`tfsal.data.saliency_map_from_fixations` for CC, KLD and SIM); predictions
    are resized to it by the metric functions (SPEC §3). sAUC's negatives are the other examples' fixations; IG
    needs ``train_examples`` for its centre-bias baseline.

    Args:
        maps: list of predicted maps, one per example, any size.
        examples: list of :class:`~tfsal.data.Example` with fixations.
        metrics: metric names (any of :data:`ALL_METRICS`; default :data:`DEFAULT_METRICS`).
        progress: show a progress bar.
        train_examples: training examples for IG's centre-bias baseline.
        seed: seed of the sampled metrics.

    Returns:
        A dict metric name → ``(N,)`` array of per-image scores.

    Example:
        >>> import tfsal
        >>> val = tfsal.data.read_examples("demo", "val")[:3]
        >>> score_maps(list(baseline_maps("uniform", val)), val, ["NSS"])["NSS"]
        array([0., 0., 0.])
    """
    metrics = _canonical_metrics(metrics)
    if len(maps) != len(examples):
        raise UserError(f"got {len(maps)} maps for {len(examples)} examples")
    gt = _GroundTruth(examples, train_examples)
    return _score_stream(maps, gt, len(examples), metrics, seed, "scoring" if progress else None)


def _score_stream(maps, gt, n, metrics, seed, progress_label):
    """Per-image scores of a stream of ``n`` predicted maps (each normalised by :func:`as_saved_map` first)."""
    scores = {m: np.zeros(n) for m in metrics}
    bar = Progress(n, progress_label) if progress_label else None
    for i, p in enumerate(maps):
        if i >= n:
            raise ValueError(f"the model produced more maps than the {n} images")
        row = gt.score(i, as_saved_map(p), metrics, seed=seed)
        for m in metrics:
            scores[m][i] = row[m]
        if bar is not None:
            bar.update(i + 1)
    if bar is not None:
        bar.close()
    return scores


def summarize(scores):
    """Mean and standard deviation over images: ``{metric: (mean, std)}``.

    Example:
        >>> summarize({"NSS": [1.0, 3.0]})
        {'NSS': (2.0, 1.0)}
    """
    return {m: (float(np.mean(v)), float(np.std(v))) for m, v in scores.items()}


def format_table(rows, metrics=None):
    """A plain-text table; ``rows`` maps a row name to ``{metric: (mean, std)}``.

    Example:
        >>> print(format_table({"uniform": {"NSS": (0.0, 0.0)}}))
                              NSS
        uniform      0.000 ±0.000
    """
    metrics = list(metrics or next(iter(rows.values())).keys())
    width = max(len(r) for r in rows) + 2
    lines = [f"{'':{width}}" + "".join(f"{m:>16}" for m in metrics)]
    for name, summary in rows.items():
        lines.append(f"{name:{width}}" + "".join(
            f"{summary[m][0]:>9.3f} ±{summary[m][1]:5.3f}" if m in summary else f"{'-':>16}" for m in metrics))
    return "\n".join(lines)


#: Output-blur candidates of :func:`select_blur`, σ in output pixels (0 = no blur). At FastSal's 192×256 output,
#: 4 px ≈ 0.016 × width; the ground-truth maps are blurred with 0.03 × width (:data:`tfsal.data.DEFAULT_BLUR_SIGMA`).
BLUR_SIGMAS = (0, 1, 2, 3, 4, 6, 8)


def with_output_blur(model, sigma, name="output_blur"):
    """``model`` followed by a fixed :class:`tfsal.layers.OutputBlur` of σ = ``sigma`` output pixels (0: itself)."""
    import keras


    if not sigma:
        return model
    return keras.Model(model.inputs, OutputBlur(sigma, name=name, dtype="float32")(model.outputs[0]),
                       name=f"{model.name}_blur")


def select_blur(model, examples, sigmas=BLUR_SIGMAS, batch_size=8):
    """The output blur that scores best on ``examples``: mean NSS + mean CC, each blur applied to the model's map.

    The usual final smoothing of saliency models, chosen on a validation split (never the test split).

    Args:
        model: a ``keras.Model`` giving a map at its output resolution.
        examples: validation :class:`~tfsal.data.Example` list with fixations.
        sigmas: candidate σ in output pixels (0 = no blur).
        batch_size: images per forward pass.

    Returns:
        ``(best_sigma, {sigma: {"NSS": mean, "CC": mean}})``.

    Example:
        >>> sigma, scores = select_blur(model, tfsal.data.read_examples("demo", "val"))  # doctest: +SKIP
    """
    images = [read_image(e.image_path) for e in examples]
    scores = {}
    for sigma in sigmas:
        maps = predict_maps(with_output_blur(model, sigma), images, batch_size=batch_size)
        s = score_maps(maps, examples, ["NSS", "CC"])
        scores[sigma] = {"NSS": float(np.mean(s["NSS"])), "CC": float(np.mean(s["CC"]))}
    best = max(scores, key=lambda k: scores[k]["NSS"] + scores[k]["CC"])
    return best, scores


def predict_examples(model, examples, batch_size=8):
    """Predicted maps for dataset examples (each at its image's own size); ``model`` as for
    :func:`tfsal.runtime.resolve_model`."""
    return predict_maps(model, [e.image_path for e in examples], batch_size=batch_size)
