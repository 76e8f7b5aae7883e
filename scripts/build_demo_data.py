"""Build tfsal's built-in demo data: a downsized OSIE subset in OSIE's own (NUS) layout.

Picks the first 120 images (by file name) of OSIE's train split and the first 30 of its val split (tfsal's
md5-of-stem split rule, tfsal.data.split_of), so the demo never contains OSIE test-split images. Images are
resized from 800×600 to 256×192 (cv2.INTER_AREA, JPEG quality 90); fixations are rescaled to the new size and
written, still 1-based, into eye/fixations.mat with OSIE's structure. The OSIE MIT licence is copied beside them.

    python scripts/build_demo_data.py --osie ../shared/data/osie --out tfsal/data/demo_osie
"""
import argparse
import os
import shutil

import cv2
import numpy as np
import scipy.io

from tfsal.data import read_nus, split_of

SIZE = (256, 192)  # (width, height): OSIE's 800×600 scaled by 0.32
COUNTS = {"train": 120, "val": 30}

README = """# tfsal demo data: a downsized subset of OSIE

{n} photographs from OSIE (Xu, Jiang, Wang, Kankanhalli, Zhao, "Predicting human gaze beyond pixels",
Journal of Vision 2014), resized from 800×600 to {w}×{h}, with the raw eye fixations of their 15 viewers
rescaled to the new size. Same layout as the original (the NUS raw-fixation layout):

- `stimuli/*.jpg` — the images ({w}×{h}, JPEG quality 90).
- `eye/fixations.mat` — cell `fixations`; entry i has `img` and `subjects`, each subject with `fix_x`, `fix_y`
  (1-based pixel coordinates at {w}×{h}) and `fix_duration` (ms).

Splits follow tfsal's rule (`tfsal.data.split_of`): {train} train and {val} val images, all taken from OSIE's
train and val splits, so OSIE's test split stays unseen. Rebuild with `scripts/build_demo_data.py`.

The OSIE data is distributed under the MIT licence; its notice is in `LICENSE` beside this file.
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--osie", default=os.path.join("..", "shared", "data", "osie"))
    p.add_argument("--out", default=os.path.join("tfsal", "data", "demo_osie"))
    args = p.parse_args()
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out!r} exists; remove it first (this script never overwrites)")
    examples = read_nus(args.osie)
    chosen = []
    for split, n in COUNTS.items():
        chosen += [e for e in examples if split_of(e.stem) == split][:n]
    os.makedirs(os.path.join(args.out, "stimuli"))
    os.makedirs(os.path.join(args.out, "eye"))
    mat_in = scipy.io.loadmat(os.path.join(args.osie, "eye", "fixations.mat"), squeeze_me=True,
                              struct_as_record=False)["fixations"]
    by_name = {str(e.img): e for e in np.atleast_1d(mat_in).ravel()}
    cells = np.empty((len(chosen), 1), dtype=object)
    for i, ex in enumerate(chosen):
        name = os.path.basename(ex.image_path)
        img = cv2.imread(ex.image_path, cv2.IMREAD_COLOR)
        sx, sy = SIZE[0] / img.shape[1], SIZE[1] / img.shape[0]
        small = cv2.resize(img, SIZE, interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(args.out, "stimuli", name), small, [cv2.IMWRITE_JPEG_QUALITY, 90])
        subjects = np.empty((1, len(np.atleast_1d(by_name[name].subjects))), dtype=object)
        for s, subj in enumerate(np.atleast_1d(by_name[name].subjects)):
            fx = np.atleast_1d(np.asarray(subj.fix_x, np.float64))
            fy = np.atleast_1d(np.asarray(subj.fix_y, np.float64))
            # 1-based pixel centre x → continuous (x - 0.5) → scaled → back to 1-based.
            subjects[0, s] = {
                "fix_x": np.round((fx - 0.5) * sx + 0.5, 2).reshape(1, -1),
                "fix_y": np.round((fy - 0.5) * sy + 0.5, 2).reshape(1, -1),
                "fix_duration": np.atleast_1d(np.asarray(subj.fix_duration, np.float64)).reshape(1, -1),
            }
        cells[i, 0] = {"img": name, "subjects": subjects}
    scipy.io.savemat(os.path.join(args.out, "eye", "fixations.mat"), {"fixations": cells}, do_compression=True)
    shutil.copy(os.path.join(args.osie, "LICENSE"), os.path.join(args.out, "LICENSE"))
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(README.format(n=len(chosen), w=SIZE[0], h=SIZE[1], **COUNTS))
    print(f"wrote {len(chosen)} images to {args.out}")


if __name__ == "__main__":
    main()
