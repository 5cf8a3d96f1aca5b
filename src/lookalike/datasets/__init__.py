"""Sample collections and the altered copies that give near-duplicate ground truth."""

from lookalike.datasets.fetch import DatasetInfo, Fetched, fetch_dataset, list_datasets
from lookalike.datasets.sample import SAMPLE_PHOTOS, SampleCollection, build_sample, sample_photo
from lookalike.datasets.variants import TRANSFORMS

__all__ = [
    "SAMPLE_PHOTOS",
    "TRANSFORMS",
    "DatasetInfo",
    "Fetched",
    "SampleCollection",
    "build_sample",
    "fetch_dataset",
    "list_datasets",
    "sample_photo",
]
