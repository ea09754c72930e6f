"""gramnas: GRAM meta-graph search and SwiftNet models (Cheng et al.).

The core is plain Python, numpy and PyTorch; Hydra and Lightning live in the
entry points and in :mod:`gramnas.training`, which this module never imports.
"""

from gramnas.architecture import Architecture, Dag, Node
from gramnas.counting import count_macs, count_params
from gramnas.errors import GramError
from gramnas.metagraph import MetaGraph
from gramnas.model import SwiftNet, build_model
from gramnas.pruning import LevelProfile, derive, fit_budget, level_for_budget, profile_levels
from gramnas.space import PRESETS, SearchSpace, preset_space

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "Architecture",
    "Dag",
    "GramError",
    "LevelProfile",
    "MetaGraph",
    "Node",
    "SearchSpace",
    "SwiftNet",
    "build_model",
    "count_macs",
    "count_params",
    "derive",
    "fit_budget",
    "level_for_budget",
    "preset_space",
    "profile_levels",
]
