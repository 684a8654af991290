"""Kept for model bundles written by release 0.1.0; new code does not import it.

Those bundles' pickles refer to the pipeline's conversion functions by the
module they lived in then, ``container.features``. They now live in
`container.contract.columns`; these aliases let such bundles load (in any
process, serving included) without importing the training code.
"""

from container.contract.columns import (  # noqa: F401 - names pickles refer to
    category_strings,
    to_category_frame,
    to_float_frame,
)
