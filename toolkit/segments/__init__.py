"""Customer segmentation: k-means, DBSCAN, hierarchical and Gaussian mixtures that choose their
own size from evidence, profile and name the segments, and save without pickle.

Examples
--------
>>> from toolkit.segments import Segmenter
>>> Segmenter(method="kmeans", k="auto").get_params()["k_range"]
(2, 10)
"""

from toolkit.segments._names import readable, rfm_roles
from toolkit.segments._prep import LABEL_COLUMNS, Preprocessor, fit_preprocessor
from toolkit.segments._run import SegmentationRun, assign_table, choose_best, segment_table
from toolkit.segments._segmenter import Segmenter, parse_k_range

__all__ = [
    "LABEL_COLUMNS",
    "Preprocessor",
    "SegmentationRun",
    "Segmenter",
    "assign_table",
    "choose_best",
    "fit_preprocessor",
    "parse_k_range",
    "readable",
    "rfm_roles",
    "segment_table",
]
