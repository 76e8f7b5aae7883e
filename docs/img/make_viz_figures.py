"""Pictures for docs/visualization.md that need a few lines of Python (the rest come from `tfsal visualize`).

Usage: python docs/img/make_viz_figures.py OUT_DIR [BEFORE.keras AFTER.keras]
(with two models it also writes viz_filters.png, their first-conv filters side by side).
"""
import sys
import cv2
import numpy as np
import tfsal
from tfsal import viz
from tfsal.data import read_examples
from tfsal.evaluate import baseline_maps
from tfsal.sampler import SaliencySampler

out = sys.argv[1]
ex = read_examples("demo", "val")[0]
image = tfsal.read_image(ex.image_path)
(centre,) = baseline_maps("centre-bias", [ex], train_examples=read_examples("demo", "train"))
(spectral,) = baseline_maps("spectral-residual", [ex])

# 1. a signed map (e.g. a linear-output model): naive uint8 cast wraps around, tfsal does not
signed = 3.0 * (viz.normalize_map(spectral) - 0.6)           # range about [-1.8, 1.2]
naive = (signed * 255).astype(np.int64).astype(np.uint8)      # the seed-000 bug: -0.1 -> 230 (bright)
naive_heat = cv2.cvtColor(cv2.applyColorMap(naive, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
naive_overlay = np.round(0.5 * image + 0.5 * naive_heat).astype(np.uint8)
pic = viz.tile_grid([naive_overlay, viz.overlay(image, signed), viz.overlay(image, viz.normalize_map(signed))],
                    columns=3, labels=["naive uint8 cast (wraps)", "tfsal overlay(signed map)",
                                       "tfsal overlay(min-max map)"])
assert np.array_equal(viz.overlay(image, signed), viz.overlay(image, viz.normalize_map(signed)))
viz.write_png(f"{out}/viz_overlay_negative.png", pic)

# 2. fixations over the centre-bias map
viz.write_png(f"{out}/viz_fixations.png",
              viz.fixation_overlay(image, ex.fixations, saliency_map=centre, normalized=False, radius=2))

# 3. saliency-sampler resampling: zoom on the spectral-residual map
sampler = SaliencySampler(output_size=(image.shape[0], image.shape[0]), normalization="sum")
sal = viz.normalize_map(spectral) ** 2
zoomed = sampler([image[None].astype("float32"), sal[None, :, :, None].astype("float32")]).numpy()[0]
viz.write_png(f"{out}/viz_resampling.png",
              viz.resampling_picture(image, sal, zoomed / 255.0, labels=("image", "saliency (squared SR)", "sampled")))
# 4. first-conv filters of two models side by side
if len(sys.argv) == 4:
    grids = [np.pad(viz.conv_filter_grid(tfsal.load_model(p), tile=24, columns=8), ((20, 0), (0, 0), (0, 0)),
                    constant_values=255) for p in sys.argv[2:4]]
    viz.write_png(f"{out}/viz_filters.png", viz.tile_grid(grids, columns=2, pad=6,
                                                          labels=["random init", "after training"]))
print("ok", image.shape, float(signed.min()), float(signed.max()))
