"""Write data/raw/diabetes.csv, the regression example's raw data.

Provenance: the diabetes data of Efron, Hastie, Johnstone and Tibshirani,
"Least Angle Regression", Annals of Statistics 32(2), 2004: 442 patients,
ten baseline measurements (age, sex, body mass index, average blood
pressure, six blood serum measurements s1-s6) and a quantitative measure of
disease progression one year after baseline. It ships inside scikit-learn
(`sklearn.datasets.load_diabetes`, no download), here in its original units
(`scaled=False`) rather than the mean-centred, scaled copy.

The CSV is committed so the example needs nothing but the repository; this
script says how it was made and remakes it byte for byte:

    python data/make_diabetes_csv.py
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_diabetes

OUT = Path(__file__).resolve().parent / "raw" / "diabetes.csv"
TARGET = "progression"


def main() -> Path:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.rename(columns={"target": TARGET})
    for column in frame.columns:
        # Whole-number columns are written as such ("59", not "59.0"), as a
        # user's export would hold them.
        if (frame[column] % 1 == 0).all():
            frame[column] = frame[column].astype(int)
    frame.to_csv(OUT, index=False, lineterminator="\n")
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
