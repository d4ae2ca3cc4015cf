"""Tables of named columns with missing cells: the embedded penguins set and the user's CSV files.

A spec is one of:

* `penguins`: palmerpenguins' 344 penguins of three species from three Antarctic islands (Gorman,
  Williams and Fraser, 2014), 8 columns, 19 missing cells; its fixed 70/10/20 split is stratified by
  species with seed 0, like the embedded image sets (see `Penguins`);
* a `.csv` file with any columns, or `tfds:NAME` of a TFDS set of scalar features (`tfds:penguins/simple`,
  `tfds:titanic`; needs internet once); split 70/10/20 with `seed`, stratified by the target for
  classification.

Any column can be the target; the others are features, numeric or categorical. Missing cells stay
missing here (NaN in numeric columns, NaN or "" in categorical ones): imputing them is the model's
job, with statistics of the training split only. Rows whose target is missing are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import tensorflow_datasets as tfds

from common.datasets import embedded_builder, parse_source, prepare_tfds, tfds_builder
from common.datasets.embedded import register_embedded, stratified_split_indices
from common.datasets.files import read_csv_frame
from common.errors import UsageError

SPLITS = ("train", "validation", "test")
TASK_TYPES = ("auto", "classification", "regression")
# A numeric target of whole numbers with at most this many distinct values is read as class labels.
MAX_INTEGER_CLASSES = 10
MIN_ROWS_PER_CLASS = 5  # a stratified 70/10/20 split needs a few rows of every class


@register_embedded
class Penguins(tfds.core.GeneratorBasedBuilder):
    """palmerpenguins' 344 penguins (`palmerpenguins.load_penguins()`), every column kept raw.

    Missing numbers are stored as NaN and missing strings as "", so the table reads back exactly as
    the package ships it. The splits are stratified by species with seed 0 (70/10/20).
    """

    name = "palmer_penguins"  # the TFDS name; TFDS's own `penguins` (tfds:penguins/simple) keeps its name
    EMBEDDED_NAME = "penguins"  # the suite's name for it
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DESCRIPTION = "344 Palmer Archipelago penguins, 8 columns with 19 missing cells (palmerpenguins)."
    KIND = "table"
    NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year")
    TEXT = ("species", "island", "sex")
    COLUMNS = ("species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex",
               "year")
    STRATIFY = "species"

    def _info(self) -> tfds.core.DatasetInfo:
        features = {c: tfds.features.Text() for c in self.TEXT}
        features.update({c: tfds.features.Scalar(dtype=np.float32) for c in self.NUMERIC})
        return tfds.core.DatasetInfo(builder=self, description=self.DESCRIPTION,
                                     features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        from palmerpenguins import load_penguins

        frame = load_penguins()[list(self.COLUMNS)]
        splits = stratified_split_indices(frame[self.STRATIFY].to_numpy())
        return {name: self._generate_examples(frame, idx) for name, idx in splits.items()}

    def _generate_examples(self, frame, indices):
        for i in indices:
            row = frame.iloc[int(i)]
            example = {c: "" if pd.isna(row[c]) else str(row[c]) for c in self.TEXT}
            example.update({c: np.float32(row[c]) for c in self.NUMERIC})  # NaN stays NaN
            yield int(i), example


@dataclass
class TableData:
    """Feature columns and targets of each split.

    Attributes:
        name: the dataset spec.
        target: the target column.
        task: "classification" or "regression".
        frames: {split: DataFrame of the feature columns}, missing cells NaN (numeric) or "" (categorical).
        targets: {split: int64 class ids or float32 values}.
        numeric: numeric feature columns.
        categorical: categorical feature columns (values as strings).
        class_names: classification: the target's values, indexed by class id.
        dropped: rows left out because their target is missing.
        preprocessing: set by the application (statistics learned from the training split).
    """

    name: str
    target: str
    task: str
    frames: dict[str, pd.DataFrame]
    targets: dict[str, np.ndarray]
    numeric: list[str]
    categorical: list[str]
    class_names: list[str] = field(default_factory=list)
    dropped: int = 0
    preprocessing: dict = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(self.targets[split]) for split in SPLITS}

    @property
    def columns(self) -> list[str]:
        return list(self.frames["train"].columns)


def category_strings(values: pd.Series) -> pd.Series:
    """A column as category names: whole floats lose their ".0" (2007.0 -> "2007"), missing -> ""."""
    def name(value) -> str:
        if pd.isna(value) or value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    return values.map(name).astype(object)


def numeric_values(values: pd.Series, column: str, source: str) -> np.ndarray:
    """A numeric column as float32 (missing -> NaN); UsageError naming the first cell that is not a number."""
    numbers = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | (values.astype(str).str.strip() == "")
    bad = numbers.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UsageError(f"column {column!r} of {source} is numeric but has {values.iloc[row]!r} on data row {row + 1}")
    numbers = numbers.to_numpy(np.float64)
    if np.isinf(numbers).any():
        raise UsageError(f"column {column!r} of {source} has infinite values")
    return numbers.astype(np.float32)


def infer_task(target: pd.Series) -> str:
    """Classification for text, booleans and few whole numbers; regression for other numbers."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    values = target.to_numpy(np.float64)
    if np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def _read_embedded(name: str, data_dir: str) -> dict[str, pd.DataFrame]:
    builder = embedded_builder(name, "table", data_dir)
    frames = {}
    for split in SPLITS:
        rows = list(tfds.as_numpy(builder.as_dataset(split=split)))
        frame = pd.DataFrame({c: [r[c] for r in rows] for c in builder.COLUMNS})
        for column in builder.TEXT:
            frame[column] = [v.decode("utf-8") or np.nan for v in frame[column]]
        frames[split] = frame
    return frames


def _read_tfds(name: str, data_dir: str) -> pd.DataFrame:
    """All rows of a TFDS set of scalar features (e.g. `penguins/simple`, `titanic`) as one table.

    Class labels become their names, bytes become text ("" = missing); features that are not
    scalars (images, sequences, nested dicts) are left out.
    """
    builder, _ = tfds_builder(name, data_dir)
    features = builder.info.features
    columns = [k for k, f in features.items() if isinstance(f, (tfds.features.ClassLabel, tfds.features.Text))
               or (isinstance(f, tfds.features.Tensor) and f.shape == ())]
    if not columns:
        raise UsageError(f"TFDS dataset {name!r} has no scalar features to make a table of (it has: {', '.join(features)})")
    prepare_tfds(builder, name)
    rows = []
    for split in list(builder.info.splits) or ["train"]:
        rows += list(tfds.as_numpy(builder.as_dataset(split=split)))
    table = {}
    for column in columns:
        values = [row[column] for row in rows]
        if isinstance(features[column], tfds.features.ClassLabel):
            values = [features[column].int2str(int(v)) for v in values]
        elif values and isinstance(values[0], bytes):
            values = [v.decode("utf-8", "replace") or np.nan for v in values]
        table[column] = values
    return pd.DataFrame(table)


def _split(frame: pd.DataFrame, labels: np.ndarray | None, seed: int, spec: str) -> dict[str, pd.DataFrame]:
    if len(frame) < 20:
        raise UsageError(f"{spec} has {len(frame)} rows with a target: too few for a 70/10/20 split (need 20)")
    strata = labels if labels is not None else np.zeros(len(frame), np.int64)
    indices = stratified_split_indices(strata, seed=seed)
    return {split: frame.iloc[idx].reset_index(drop=True) for split, idx in indices.items()}


def load_table(spec: str, *, target: str, data_dir: str = "", task: str = "auto", categorical_columns=(),
               drop_columns=(), max_classes: int = 50, seed: int = 0) -> TableData:
    """Loads a table and checks its target (see the module docstring for the specs).

    Args:
        spec: `penguins`, a CSV path or `tfds:NAME`.
        target: the column to predict.
        data_dir: TFDS data dir ('' = default).
        task: "classification", "regression" or "auto" (text, booleans or at most 10 distinct whole
            numbers: classification; other numbers: regression).
        categorical_columns: numeric-looking columns to treat as categories (e.g. codes, years).
        drop_columns: columns that are not features (ids, leaks).
        max_classes: the most classes a classification target may have.
        seed: split seed of CSV files.

    Raises:
        UsageError: a missing file or column, a constant target, too many classes, a non-numeric
            regression target, too few rows, no feature columns.

    Example:
        >>> data = load_table("penguins", target="species")
        >>> data.sizes, data.class_names
        ({'train': 240, 'validation': 35, 'test': 69}, ['Adelie', 'Chinstrap', 'Gentoo'])
    """
    if task not in TASK_TYPES:
        raise UsageError(f"task type {task!r} is not one of: {', '.join(TASK_TYPES)}")
    source, name = parse_source(spec)
    if source == "embedded":
        frames = _read_embedded(name, data_dir)
        whole = pd.concat([frames[s] for s in SPLITS], ignore_index=True)
    elif source == "tfds":
        whole, frames = _read_tfds(name, data_dir), None
    else:
        whole = read_csv_frame(spec)
        frames = None
    columns = [str(c) for c in whole.columns]
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise UsageError(f"{spec} has repeated column names: {', '.join(repeated)}")
    if not target:
        raise UsageError(f"name the target column with --set target=COLUMN (columns of {spec}: {', '.join(columns)})")
    if target not in columns:
        raise UsageError(f"{spec} has no target column {target!r} (columns: {', '.join(columns)}); "
                         "set it with --set target=COLUMN")
    for option_name, listed in (("categorical_columns", categorical_columns), ("drop_columns", drop_columns)):
        unknown = [c for c in listed if c not in columns]
        if unknown:
            raise UsageError(f"{option_name} names {', '.join(map(repr, unknown))}, not columns of {spec} "
                             f"(columns: {', '.join(columns)})")
    if target in drop_columns:
        raise UsageError(f"the target {target!r} is also in drop_columns")

    present = whole[target].notna() & (whole[target].astype(str).str.strip() != "")
    targets_all = whole.loc[present, target]
    if targets_all.nunique() < 2:
        only = f"every row is {targets_all.iloc[0]!r}" if len(targets_all) else "it has no values"
        raise UsageError(f"target column {target!r} of {spec} is constant ({only}): there is nothing to predict")
    if task == "auto":
        task = infer_task(targets_all)

    features = [c for c in columns if c != target and c not in drop_columns]
    if not features:
        raise UsageError(f"{spec} has no feature columns besides the target {target!r}")
    numeric = [c for c in features if c not in categorical_columns and pd.api.types.is_numeric_dtype(whole[c])
               and not pd.api.types.is_bool_dtype(whole[c])]
    categorical = [c for c in features if c not in numeric]

    class_names: list[str] = []
    if task == "classification":
        names = category_strings(targets_all)
        class_names = sorted(names.unique(), key=_natural_key)
        if len(class_names) > max_classes:
            raise UsageError(f"target {target!r} of {spec} has {len(class_names)} distinct values: too many classes "
                             f"for classification (max_classes={max_classes}); use --set task_type=regression for a "
                             "numeric target, or raise max_classes")
        counts = names.value_counts()
        if counts.min() < MIN_ROWS_PER_CLASS:
            raise UsageError(f"class {counts.idxmin()!r} of target {target!r} has {counts.min()} rows; a stratified "
                             f"split needs at least {MIN_ROWS_PER_CLASS} per class")
    elif not pd.api.types.is_numeric_dtype(targets_all):
        first = targets_all[pd.to_numeric(targets_all, errors="coerce").isna()].iloc[0]
        raise UsageError(f"target {target!r} of {spec} is not numeric (it has {first!r}): regression needs numbers; "
                         "use --set task_type=classification for labels")

    def encode(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        keep = frame[target].notna() & (frame[target].astype(str).str.strip() != "")
        frame = frame.loc[keep].reset_index(drop=True)
        if task == "classification":
            lookup = {c: i for i, c in enumerate(class_names)}
            y = np.array([lookup[v] for v in category_strings(frame[target])], np.int64)
        else:
            y = numeric_values(frame[target], target, spec)
        table = pd.DataFrame(index=frame.index)
        for c in features:
            table[c] = numeric_values(frame[c], c, spec) if c in numeric else category_strings(frame[c])
        return table, y

    if frames is None:
        kept = whole.loc[present].reset_index(drop=True)
        labels = category_strings(kept[target]).to_numpy() if task == "classification" else None
        frames = _split(kept, labels, seed, spec)
    encoded = {split: encode(frames[split]) for split in SPLITS}
    for split in SPLITS:
        if not len(encoded[split][1]):
            raise UsageError(f"{spec} gives an empty {split} split; it needs more rows")
    return TableData(name=spec, target=target, task=task, frames={s: e[0] for s, e in encoded.items()},
                     targets={s: e[1] for s, e in encoded.items()}, numeric=numeric, categorical=categorical,
                     class_names=class_names, dropped=int((~present).sum()))


def _natural_key(name: str):
    """Numbers in numeric order ("2" before "10"), then text in alphabetical order."""
    try:
        return 0, float(name), ""
    except ValueError:
        return 1, 0.0, name
