"""Global probes of the model itself: which features matter overall, and what a class
looks like to the model.

:class:`PermutationImportance` follows the survey's procedure
(``004_7c9aaa9fd587bc3d.txt``); :class:`ActivationMaximization` the lecture's
activation maximization, with a regularizer or a generator constraint
(``002_3e5e1762af60ee33.txt``).
"""

from ._activation import REGULARIZERS, ActivationMaximization, Prototypes, nearest_distance
from ._permutation import PermutationImportance, mass_share, spread_groups

__all__ = [
    "REGULARIZERS",
    "ActivationMaximization",
    "PermutationImportance",
    "Prototypes",
    "mass_share",
    "nearest_distance",
    "spread_groups",
]
