"""The loader benchmark reads the data tests' tiny real datasets."""
from tests.data.conftest import good_dataset  # noqa: F401
