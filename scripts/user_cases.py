#!/usr/bin/env python
"""User-style cases: real data unlike the embedded sets, written as a user would hand it to the suite.

`python scripts/user_cases.py OUT_DIR` writes every case below into OUT_DIR (deterministic: fixed
seeds, so a second run rewrites the same bytes; files of a case are replaced, nothing else is
touched). `scripts/benchmark.py --group user` writes them and trains each with its application's
defaults; the only settings of a case are its dataset path and, for tables, `--target`.

Images (class folders `CASE/<class>/*.png`, for `dlsuite image_classification train --dataset DIR`):
  textures     64x64 crops of scikit-image's grey textures brick, grass, gravel: 3 classes x 56
               crops, non-overlapping (56 of the 64 cells of an 8x8 grid, drawn with seed 0)
  photo_crops  64x64 colour crops of real photos, one class per photo: skimage astronaut, chelsea,
               coffee, rocket and scikit-learn's china.jpg, flower.jpg; 6 classes x 40 crops at
               seeded positions (they overlap: the smallest photo holds only 28 disjoint crops)
  grey_scans   64x64 crops of skimage's grey scans and photos page, text, coins, moon, camera,
               clock; 6 classes x 40 crops at seeded positions
Series (CSV with `time`, `value`, for `dlsuite time_series train --dataset FILE.csv`; `time` is an
ISO date, so `value` is the only numeric column):
  nile               statsmodels nile: yearly volume of the Nile at Aswan 1871-1970, 100 values
  elnino             statsmodels elnino: monthly sea surface temperature 1950-2010, 732 values
  unemployment       statsmodels macrodata `unemp`: US quarterly unemployment 1959-2009, 203 values
  seattle_temp_max   vega_datasets seattle-weather.csv `temp_max`: daily 2012-2015, 1,461 values
Tables (CSV, for `dlsuite tabular train --dataset FILE.csv --target COL`):
  cars_origin   vega_datasets cars.json without `Name` (406 rows, nulls kept), target `Origin` (3 classes)
  cars_mpg      the same table, target `Miles_per_Gallon` (regression; the 8 rows without it dropped)
  anes96_vote   statsmodels anes96 (944 rows; categorical codes as written), target `vote` (binary)
  fair_affairs  statsmodels fair (6,366 rows) with `had_affair` = affairs > 0 (binary), `affairs` dropped

Usage:
    python scripts/user_cases.py /tmp/user_cases            # writes all cases
    python scripts/user_cases.py /tmp/user_cases --only textures --only nile
    python scripts/user_cases.py --list                     # name, application, path, settings
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field

import numpy as np

CROP = 64  # image side of every image case: the image folders' default size, so no resize happens


@dataclass(frozen=True)
class Case:
    """One user-style case.

    Args:
        name: the case's name; its benchmark row is `user-<name>`.
        app: the application that trains on it.
        path: where it lies, relative to the cases folder (a class folder or a CSV file).
        overrides: config settings besides `dataset` (tables: `target`); nothing else.
        source: the package and data it is made of.
    """

    name: str
    app: str
    path: str
    overrides: dict = field(default_factory=dict)
    source: str = ""

    def config(self, cases_dir: str) -> dict:
        """The config overrides of a run on this case written under `cases_dir`."""
        return {"dataset": os.path.join(cases_dir, self.path), **self.overrides}


CASES: tuple[Case, ...] = (
    Case("textures", "image_classification", "textures", source="scikit-image: brick, grass, gravel"),
    Case("photo_crops", "image_classification", "photo_crops",
         source="scikit-image: astronaut, chelsea, coffee, rocket; scikit-learn: china.jpg, flower.jpg"),
    Case("grey_scans", "image_classification", "grey_scans",
         source="scikit-image: page, text, coins, moon, camera, clock"),
    Case("nile", "time_series", "nile.csv", source="statsmodels: datasets.nile"),
    Case("elnino", "time_series", "elnino.csv", source="statsmodels: datasets.elnino"),
    Case("unemployment", "time_series", "unemployment.csv", source="statsmodels: datasets.macrodata unemp"),
    Case("seattle_temp_max", "time_series", "seattle_temp_max.csv", source="vega_datasets: seattle-weather.csv"),
    Case("cars_origin", "tabular", "cars_origin.csv", {"target": "Origin"}, source="vega_datasets: cars.json"),
    Case("cars_mpg", "tabular", "cars_mpg.csv", {"target": "Miles_per_Gallon"}, source="vega_datasets: cars.json"),
    Case("anes96_vote", "tabular", "anes96_vote.csv", {"target": "vote"}, source="statsmodels: datasets.anes96"),
    Case("fair_affairs", "tabular", "fair_affairs.csv", {"target": "had_affair"}, source="statsmodels: datasets.fair"),
)
CASE_NAMES = tuple(case.name for case in CASES)


def get_case(name: str) -> Case:
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(f"unknown case {name!r} (known: {', '.join(CASE_NAMES)})")


# --- targets ------------------------------------------------------------------------------------
# How close to the best same-run baseline a case's model must come: images and series must be at
# least as good; tables within 1 point: 0.01 of accuracy, or 1% of the best baseline's MAE.
TABLE_ACCURACY_SLACK = 0.01
TABLE_MAE_SLACK = 0.01


def target(case: Case, metrics: dict, key: str, better: str) -> tuple[str, bool, str] | None:
    """The case's target against the best baseline of the same run, as (text, met, detail).

    `key` and `better` are the run's primary metric ("accuracy", "higher") or ("mae", "lower").
    """
    model = metrics["test"].get(key)
    scores = {name: values[key] for name, values in (metrics.get("baselines") or {}).items() if key in values}
    if model is None or not scores:
        return None
    pick = max if better == "higher" else min
    best_name = pick(scores, key=scores.get)
    best = scores[best_name]
    if case.app == "tabular" and better == "higher":
        text, bound = f"{key} >= best baseline - {TABLE_ACCURACY_SLACK:g}", best - TABLE_ACCURACY_SLACK
    elif case.app == "tabular":
        text, bound = f"{key} <= best baseline x {1 + TABLE_MAE_SLACK:g}", best * (1 + TABLE_MAE_SLACK)
    else:
        text, bound = f"{key} {'>=' if better == 'higher' else '<='} best baseline", best
    met = model >= bound - 1e-12 if better == "higher" else model <= bound + 1e-12
    return text, met, f"{key} {model:.4g} vs {best_name} {best:.4g}"


# --- writing --------------------------------------------------------------------------------------
def _grid_crops(image: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` non-overlapping crops: cells of the CROP grid, drawn without replacement."""
    rows, cols = image.shape[0] // CROP, image.shape[1] // CROP
    cells = rng.choice(rows * cols, size=count, replace=False)
    return [image[r * CROP:(r + 1) * CROP, c * CROP:(c + 1) * CROP] for r, c in (divmod(int(i), cols) for i in sorted(cells))]


def _random_crops(image: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    tops = rng.integers(0, image.shape[0] - CROP + 1, size=count)
    lefts = rng.integers(0, image.shape[1] - CROP + 1, size=count)
    return [image[t:t + CROP, l:l + CROP] for t, l in zip(tops, lefts)]


def _write_folder(root: str, classes: dict[str, list[np.ndarray]]) -> None:
    from PIL import Image

    if os.path.isdir(root):
        shutil.rmtree(root)
    for label, crops in classes.items():
        os.makedirs(os.path.join(root, label))
        for i, crop in enumerate(crops):
            Image.fromarray(np.ascontiguousarray(crop)).save(os.path.join(root, label, f"{label}_{i:03d}.png"))


def _textures() -> dict[str, list[np.ndarray]]:
    from skimage import data

    rng = np.random.default_rng(0)
    return {name: _grid_crops(getattr(data, name)(), 56, rng) for name in ("brick", "grass", "gravel")}


def _photo_crops() -> dict[str, list[np.ndarray]]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(1)
    photos = {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket")}
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images):
        photos[os.path.splitext(os.path.basename(filename))[0]] = image
    return {name: _random_crops(image[..., :3], 40, rng) for name, image in sorted(photos.items())}


def _grey_scans() -> dict[str, list[np.ndarray]]:
    from skimage import data

    rng = np.random.default_rng(2)
    return {name: _random_crops(getattr(data, name)(), 40, rng)
            for name in ("page", "text", "coins", "moon", "camera", "clock")}


def _write_series(path: str, times, values) -> None:
    import pandas as pd

    pd.DataFrame({"time": list(times), "value": np.asarray(values, dtype=np.float64)}).to_csv(path, index=False)


def _nile(path):
    import statsmodels.api as sm

    frame = sm.datasets.nile.load_pandas().data
    _write_series(path, [f"{int(y)}-01-01" for y in frame["year"]], frame["volume"])


def _elnino(path):
    import statsmodels.api as sm

    frame = sm.datasets.elnino.load_pandas().data
    months = [c for c in frame.columns if c != "YEAR"]
    times = [f"{int(year)}-{m + 1:02d}-01" for year in frame["YEAR"] for m in range(len(months))]
    _write_series(path, times, frame[months].to_numpy().reshape(-1))


def _unemployment(path):
    import statsmodels.api as sm

    frame = sm.datasets.macrodata.load_pandas().data
    times = [f"{int(y)}-{3 * int(q) - 2:02d}-01" for y, q in zip(frame["year"], frame["quarter"])]
    _write_series(path, times, frame["unemp"])


def _seattle(path):
    from vega_datasets import data

    frame = data.seattle_weather()
    _write_series(path, frame["date"].dt.strftime("%Y-%m-%d"), frame["temp_max"])


def _cars():
    from vega_datasets import data

    frame = data.cars().drop(columns=["Name"])
    frame["Year"] = frame["Year"].dt.year
    return frame


def _cars_origin(path):
    _cars().to_csv(path, index=False)


def _cars_mpg(path):
    frame = _cars()
    frame[frame["Miles_per_Gallon"].notna()].to_csv(path, index=False)


def _anes96(path):
    import statsmodels.api as sm

    sm.datasets.anes96.load_pandas().data.to_csv(path, index=False)


def _fair(path):
    import statsmodels.api as sm

    frame = sm.datasets.fair.load_pandas().data
    frame["had_affair"] = (frame.pop("affairs") > 0).astype(int)
    frame.to_csv(path, index=False)


_IMAGE_WRITERS = {"textures": _textures, "photo_crops": _photo_crops, "grey_scans": _grey_scans}
_FILE_WRITERS = {"nile": _nile, "elnino": _elnino, "unemployment": _unemployment, "seattle_temp_max": _seattle,
                 "cars_origin": _cars_origin, "cars_mpg": _cars_mpg, "anes96_vote": _anes96, "fair_affairs": _fair}


def write_cases(out_dir: str, names=None) -> dict[str, str]:
    """Writes the named cases (all by default) under `out_dir`; returns {name: path written}."""
    written = {}
    os.makedirs(out_dir, exist_ok=True)
    for name in names or CASE_NAMES:
        case = get_case(name)
        path = os.path.join(out_dir, case.path)
        if name in _IMAGE_WRITERS:
            _write_folder(path, _IMAGE_WRITERS[name]())
        else:
            partial = path + ".partial"
            _FILE_WRITERS[name](partial)
            os.replace(partial, path)
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="user_cases.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Cases: " + ", ".join(CASE_NAMES))
    parser.add_argument("out_dir", nargs="?", help="folder to write the cases into")
    parser.add_argument("--only", action="append", default=[], metavar="CASE", help="write only this case; repeatable")
    parser.add_argument("--list", action="store_true", help="print each case's name, application, path and settings")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            settings = " ".join(f"--set {k}={v}" for k, v in case.overrides.items())
            print(f"{case.name}\t{case.app}\t{case.path}\t{settings}\t{case.source}".rstrip())
        return 0
    if not args.out_dir:
        parser.error("give OUT_DIR (or --list)")
    unknown = [n for n in args.only if n not in CASE_NAMES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)} (known: {', '.join(CASE_NAMES)})")
    for name, path in write_cases(args.out_dir, args.only or None).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
