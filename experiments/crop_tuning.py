"""Tune the crop objective of ``tfsal crop`` on OSIE + EyeCrowd val; report captured headroom on test (issue #25.2).

Definitions. For an image, an aspect and an area fraction (0.5 unless said), F(box) is the share of the image's
human fixations inside the box (:func:`tfsal.crop.fixation_share`). C is the centre crop, O the oracle (the box of
the same size holding the most fixations: the exact summed-area search on the fixation count map at image
resolution) and S tfsal's box. Captured headroom over a split = sum(F(S) - F(C)) / sum(F(O) - F(C)); the table also
gives the per-image mean of (F(S) - F(C)) / (F(O) - F(C)) over the images where F(O) > F(C), and the plain means of
F for C, S and O.

Steps (one process, CPU):

1. ``cache``: the shipped model (``resolve_model(None)``, the default model of ``tfsal crop``, through
   :func:`tfsal.cropping.saliency_function`) predicts each val and test image once; its map at the model's output
   grid (what ``tfsal crop`` searches), the fixations and the image size go to ``CACHE/<data>_<split>.npz``.
2. ``tune``: a grid of objective maps (families below) on **val** only, both datasets pooled, aspects 1:1 and 16:9
   at area 0.5, ranked by pooled captured headroom (the ratio of sums over all val images and both aspects). The
   best replaces the old rule (the map's own mass, ``method="mass"``) only if it beats it in >= 95 % of paired
   bootstrap resamples of the val images; then, on **test**, once: captured headroom per dataset x aspect of the
   old rule and the val-best objective, at area 0.5 and also 0.3 and 0.7.

Objective families (each a transform of the min-max normalised map into another non-negative map; the box is the
exact summed-area search of the transformed map): sharpening ``m ** gamma``; a soft-max ``exp(beta (m - 1))``
(mass of exp = log-sum-exp of the box: towards the peak as beta grows); a threshold (mass above the q-quantile,
``max(m - quantile(m, q), 0)``); a centre prior, multiplied (a Gaussian of width ``s`` times each image side) or
mixed in (``(1 - w) m / sum m + w G / sum G``); and their combinations.

Command (maps are cached; ``all`` runs both steps)::

    python experiments/crop_tuning.py all --cache /work/runs/crop [--data ../shared/data/osie,../shared/data/eyecrowd]
        [--out tune.json] [--write-doc]
"""
import argparse
import itertools
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tfsal import crop as C  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = (os.path.join(HERE, "..", "..", "shared", "data", "osie"), os.path.join(HERE, "..", "..", "shared", "data",
                                                                                   "eyecrowd"))
ASPECTS = ("1:1", "16:9")
AREA = 0.5
EXTRA_AREAS = (0.3, 0.7)
SPLITS = ("val", "test")


# ----------------------------------------------------------------------------------------------------------------
# step 1: cached maps
# ----------------------------------------------------------------------------------------------------------------
def _cache_path(cache, data, split):
    return os.path.join(cache, f"{os.path.basename(os.path.normpath(data))}_{split}.npz")


def cache_maps(cache, datasets=DATA, splits=SPLITS):
    """Predict every image of each split once with the shipped model and save maps + fixations (skips done ones)."""
    from tfsal._io import read_image
    from tfsal.cropping import saliency_function
    from tfsal.data import read_examples

    os.makedirs(cache, exist_ok=True)
    fn = None
    for data, split in itertools.product(datasets, splits):
        path = _cache_path(cache, data, split)
        if os.path.exists(path):
            continue
        if fn is None:
            fn, _ = saliency_function(None)
        examples = read_examples(data, split)
        start = time.time()
        maps = np.stack([np.asarray(fn(read_image(ex.image_path)), np.float32).squeeze() for ex in examples])
        fix = [np.asarray(ex.fixations, np.float64).reshape(-1, 2) for ex in examples]
        np.savez_compressed(path, stems=np.array([ex.stem for ex in examples]), maps=maps,
                            shapes=np.array([(ex.height, ex.width) for ex in examples]),
                            fixations=np.concatenate(fix), offsets=np.cumsum([0] + [len(f) for f in fix]))
        print(f"cached {len(examples)} maps {maps.shape[1:]} of {data} {split} in {time.time() - start:.0f} s "
              f"-> {path}", flush=True)


def load_split(cache, data, split):
    """``[{"stem", "map" (min-max normalised, model grid), "shape" (H, W), "fixations" (N, 2)}]`` of a cached split."""
    from tfsal.evaluate import as_saved_map

    z = np.load(_cache_path(cache, data, split))
    off = z["offsets"]
    return [{"stem": str(s), "map": as_saved_map(m), "shape": tuple(int(v) for v in sh),
             "fixations": z["fixations"][off[i]:off[i + 1]]}
            for i, (s, m, sh) in enumerate(zip(z["stems"], z["maps"], z["shapes"]))]


# ----------------------------------------------------------------------------------------------------------------
# references and objectives
# ----------------------------------------------------------------------------------------------------------------
def references(records, aspect, area):
    """``(N, 2)``: F(C) and F(O) of each image (O: exact search on the fixation counts at image resolution)."""
    from tfsal.cropping import _fixation_counts

    out = np.zeros((len(records), 2))
    for i, r in enumerate(records):
        shape, fix = r["shape"], r["fixations"]
        bw, bh = C.crop_size(shape, aspect, area)
        centre = ((shape[1] - bw) // 2, (shape[0] - bh) // 2, bw, bh)
        x, y, _ = C.SummedArea(_fixation_counts(fix, shape), shape).best(bw, bh)
        out[i] = C.fixation_share(fix, centre, shape), C.fixation_share(fix, (x, y, bw, bh), shape)
    return out


def _radius2(shape):
    """Squared distance of each map cell's centre from the image centre, in units of the image's sides."""
    h, w = shape
    v, u = np.mgrid[0:h, 0:w]
    return ((u + 0.5) / w - 0.5) ** 2 + ((v + 0.5) / h - 0.5) ** 2


def objective(m, gamma=1.0, beta=None, quantile=0.0, sigma=None, mix=0.0, blur=0.0):
    """The map the box search runs on: a transform of the min-max normalised map ``m`` (see the module docstring).

    ``blur``: Gaussian blur in map cells; ``quantile``: mass above that quantile; ``gamma``: power; ``beta``:
    soft-max; ``sigma``: multiply by a centred Gaussian of that width (share of each side); ``mix``: weight of a
    centred Gaussian of width 0.25 mixed in. All defaults: ``m`` itself (the old rule, ``method="mass"``).
    """
    m = np.asarray(m, np.float64) / m.max()
    if blur:
        import cv2

        m = cv2.GaussianBlur(m, (0, 0), blur)
        m = m / m.max()
    if quantile:
        m = np.maximum(m - np.quantile(m, quantile), 0.0)
        if not m.max() > 0:
            return np.ones_like(m)
        m = m / m.max()
    m = m ** gamma
    if beta:
        m = np.exp(beta * (m - 1.0))
    if sigma:
        m = m * np.exp(-_radius2(m.shape) / (2 * sigma * sigma))
    if mix:
        g = np.exp(-_radius2(m.shape) / (2 * 0.25 ** 2))
        m = (1 - mix) * m / m.sum() + mix * g / g.sum()
    return m


def grid():
    """The val grid: one family at a time, then combinations of sharpening, threshold and a multiplied prior."""
    configs = [{}, {"peak": 1}]
    configs += [{"gamma": g} for g in (0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2, 3, 4, 6)]
    configs += [{"beta": b} for b in (1, 3, 10, 30)]
    configs += [{"quantile": q} for q in (0.3, 0.5, 0.6, 0.8, 0.9, 0.95)]
    configs += [{"sigma": s} for s in (0.15, 0.25, 0.4, 0.6, 0.8)]
    configs += [{"mix": w} for w in (0.1, 0.2, 0.5)]
    configs += [{"blur": b} for b in (2, 4, 8)]
    for g, s, q in itertools.product((0.75, 1, 1.5, 2, 3), (None, 0.3, 0.5, 0.8), (0, 0.3, 0.6)):
        c = {k: v for k, v in (("gamma", g), ("sigma", s), ("quantile", q)) if v not in (None, 0, 1)}
        if len(c) > 1:
            configs.append(c)
    return configs


def label(config):
    """``"gamma=2 sigma=0.5"``; ``"mass (old rule)"`` for the empty config."""
    if config.get("peak"):
        return "peak (argmax-centred box)"
    return " ".join(f"{k}={v:g}" for k, v in config.items()) or "mass (old rule)"


def shares(records, config, aspect, area):
    """F(S) of each image for the box on the objective map of ``config`` (``{"peak": 1}``: the argmax-centred box)."""
    out = np.zeros(len(records))
    method = "argmax" if config.get("peak") else "saliency"
    for i, r in enumerate(records):
        m = r["map"] if not config or method == "argmax" else objective(r["map"], **config)
        box = C.crop_box(m, aspect, area, r["shape"], method=method).box
        out[i] = C.fixation_share(r["fixations"], box, r["shape"])
    return out


# ----------------------------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------------------------
def headroom(s, ref):
    """Captured headroom sum(S - C) / sum(O - C), and the per-image mean where O > C."""
    gain, room = s - ref[:, 0], ref[:, 1] - ref[:, 0]
    keep = room > 1e-12
    return float(gain.sum() / room.sum()), float(np.mean(gain[keep] / room[keep]))


def bootstrap_win(gain_a, gain_b, room, draws=2000, seed=0):
    """Share of bootstrap resamples of the images (rows) in which pooled headroom ``a`` beats ``b``."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(room), (draws, len(room)))
    a = gain_a[idx].sum(axis=(1, 2)) / room[idx].sum(axis=(1, 2))
    b = gain_b[idx].sum(axis=(1, 2)) / room[idx].sum(axis=(1, 2))
    return float(np.mean(a > b))


def density_headroom(split, aspects=ASPECTS, area=AREA):
    """Pooled headroom of the same search on the human fixation density (:func:`tfsal.data.saliency_map_from_fixations`,
    area-averaged onto the model's grid): what a perfect map would capture (a reference, not a candidate)."""
    import cv2

    from tfsal.data import saliency_map_from_fixations

    gain = room = 0.0
    for rs in split.values():
        dens = []
        for r in rs:
            (H, W), (h, w) = r["shape"], r["map"].shape
            d = saliency_map_from_fixations(r["fixations"] / np.array([W, H]), (H, W)).astype(np.float32)
            dens.append({**r, "map": cv2.resize(d, (w, h), interpolation=cv2.INTER_AREA)})
        for a in aspects:
            ref = references(rs, a, area)
            gain += float((shares(dens, {}, a, area) - ref[:, 0]).sum())
            room += float((ref[:, 1] - ref[:, 0]).sum())
    return gain / room


def tune(val, aspects=ASPECTS, area=AREA):
    """Score every config of :func:`grid` on the pooled val images; returns rows sorted best first and the arrays.

    Args:
        val: ``{data: records}``.

    Returns:
        ``(rows, gains, room)``: rows ``(headroom, label, config)``; ``gains[label]`` ``(images, aspects)`` of
        F(S) - F(C); ``room`` the same of F(O) - F(C).
    """
    refs = {(d, a): references(rs, a, area) for d, rs in val.items() for a in aspects}
    room = np.concatenate([np.stack([refs[(d, a)][:, 1] - refs[(d, a)][:, 0] for a in aspects], 1) for d in val])
    rows, gains = [], {}
    for config in grid():
        g = np.concatenate([np.stack([shares(rs, config, a, area) - refs[(d, a)][:, 0] for a in aspects], 1)
                            for d, rs in val.items()])
        gains[label(config)] = g
        rows.append((float(g.sum() / room.sum()), label(config), config))
        print(f"val {rows[-1][0]:.3f}  {rows[-1][1]}", flush=True)
    rows.sort(key=lambda r: -r[0])
    return rows, gains, room


def test_table(test, config, areas=(AREA,) + EXTRA_AREAS, aspects=ASPECTS):
    """Markdown rows on test: per dataset, aspect and area, mean F of C, S (old rule and ``config``) and O, captured
    headroom and the per-image mean; then the pooled rows per area."""
    lines = ["| test split | aspect | area | images | F(C) | F(S) old | F(S) val-best | F(O) | headroom old | "
             "headroom val-best | per-image mean old | per-image mean val-best |", "|---" * 12 + "|"]
    pooled = {}
    for area in areas:
        for d, rs in test.items():
            for a in aspects:
                ref = references(rs, a, area)
                old, new = shares(rs, {}, a, area), shares(rs, config, a, area)
                (ho, mo), (hn, mn) = headroom(old, ref), headroom(new, ref)
                pooled.setdefault(area, []).append((old, new, ref))
                lines.append(f"| {d} | {a} | {area:g} | {len(rs)} | {100 * ref[:, 0].mean():.1f} % | "
                             f"{100 * old.mean():.1f} % | {100 * new.mean():.1f} % | {100 * ref[:, 1].mean():.1f} % "
                             f"| {100 * ho:.1f} % | {100 * hn:.1f} % | {100 * mo:.1f} % | {100 * mn:.1f} % |")
    for area, parts in pooled.items():
        old, new, ref = (np.concatenate([p[k] for p in parts]) for k in range(3))
        (ho, mo), (hn, mn) = headroom(old, ref), headroom(new, ref)
        lines.append(f"| **pooled** | 1:1 + 16:9 | {area:g} | {len(ref)} | {100 * ref[:, 0].mean():.1f} % | "
                     f"{100 * old.mean():.1f} % | {100 * new.mean():.1f} % | {100 * ref[:, 1].mean():.1f} % | "
                     f"**{100 * ho:.1f} %** | **{100 * hn:.1f} %** | {100 * mo:.1f} % | {100 * mn:.1f} % |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("cache", "tune", "all"), help="cache: maps only; tune: grid on val + test")
    ap.add_argument("--cache", default=os.path.join(HERE, "..", "..", "runs", "crop"))
    ap.add_argument("--data", default=",".join(DATA), help="comma-separated dataset folders")
    ap.add_argument("--out", default=None, help="JSON file of the val grid and the chosen config")
    ap.add_argument("--write-doc", action="store_true", help="write the section of docs/experiments.md")
    args = ap.parse_args(argv)
    datasets = [os.path.normpath(d) for d in args.data.split(",") if d]
    if args.step in ("cache", "all"):
        cache_maps(args.cache, datasets)
    if args.step == "cache":
        return
    start = time.time()
    names = [os.path.basename(d) for d in datasets]
    val = {n: load_split(args.cache, d, "val") for n, d in zip(names, datasets)}
    rows, gains, room = tune(val)
    best = rows[0]
    p_win = bootstrap_win(gains[best[1]], gains[label({})], room)
    adopted = best if p_win >= 0.95 and best[2] else next(r for r in rows if not r[2])
    test = {n: load_split(args.cache, d, "test") for n, d in zip(names, datasets)}
    table = test_table(test, best[2]) + ["", f"Reference: the same search on the human fixation density (a perfect "
                                         f"map at the model's grid) captures {100 * density_headroom(val):.1f} % "
                                         f"of the headroom on val and {100 * density_headroom(test):.1f} % on test "
                                         "(area 0.5, both aspects pooled)."]
    text = report(rows, best, p_win, adopted, table, val, test, time.time() - start)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"val": [[h, lab] for h, lab, _ in rows], "best": best[1], "p_win": p_win,
                       "adopted": adopted[1]}, f, indent=1)
    if args.write_doc:
        from _report import write_section

        write_section("crop_tuning", text)


def report(rows, best, p_win, adopted, table, val, test, seconds):
    """The Markdown section: definitions, the val grid's top and bottom, the decision and the test table."""
    n_val, n_test = sum(len(v) for v in val.values()), sum(len(v) for v in test.values())
    old = next(r for r in rows if not r[2])
    lines = ["## Crop objective tuning (issue #25.2)", "",
             "Command: `python experiments/crop_tuning.py all --cache /work/runs/crop --write-doc` "
             f"({seconds:.0f} s on 2 shared cores, maps cached).", "",
             "F(box) = share of an image's human fixations inside the box; C = centre crop, O = the box of the same "
             "size holding the most fixations (exact search on the fixation counts), S = tfsal's box (the exact "
             "summed-area search of the objective map built from the shipped FastSal-A's map at its 192×256 output "
             "grid, as `tfsal crop` runs it). Captured headroom = Σ(F(S) − F(C)) / Σ(F(O) − F(C)); per-image mean "
             "over images with F(O) > F(C).", "",
             f"Val grid ({len(rows)} objectives, {', '.join(f'{k} {len(v)}' for k, v in val.items())} val images "
             f"= {n_val}, aspects 1:1 and 16:9, area {AREA:g}, pooled headroom). Best five, the old rule and the worst:", "",
             "| rank | objective | val headroom |", "|---|---|---|"]
    for i, (h, lab, _) in enumerate(rows[:5]):
        lines.append(f"| {i + 1} | {lab} | {100 * h:.1f} % |")
    if rows.index(old) >= 5:
        lines.append(f"| {rows.index(old) + 1} | {old[1]} | {100 * old[0]:.1f} % |")
    lines.append(f"| {len(rows)} (worst) | {rows[-1][1]} | {100 * rows[-1][0]:.1f} % |")
    lines += ["", f"The best ({best[1]}) beats the old rule in {100 * p_win:.0f} % of 2000 paired bootstrap "
              f"resamples of the val images; the rule adopts it only at ≥ 95 %. Adopted: **{adopted[1]}**.", "",
              f"Test ({n_test} images, once): old rule vs the val-best objective ({best[1]}). The per-image mean "
              "is dominated by images with almost no headroom (where O holds one fixation more than C, a box that "
              "loses k fixations counts -k); the pooled ratio is the figure of issue #25.", ""]
    return "\n".join(lines + table)


if __name__ == "__main__":
    main()
