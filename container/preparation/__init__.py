"""Data preparation: raw CSV → validated → cleaned → splits + manifest.

The same code runs in process (`python -m orchestration prepare`) and inside
the image as a processing job (`IMAGE prepare`, the first step of the
SageMaker Pipeline), so a split made on a laptop and one made by SageMaker
are byte-identical for the same raw file, schema and seed.
"""
