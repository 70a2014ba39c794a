"""The cost model: one profile predicts every configuration; the exact optimum.

- :mod:`.structure`: one rank's events reduced to sites and a DAG of nodes
- :mod:`.cost`: :class:`CostModel` (``from_profile``, ``predict``)
- :mod:`.calibration`: measured runs that fit the cold-reverse term (:meth:`CostModel.calibrated`)
- :mod:`.milp`: :func:`optimize`, :func:`lowest_peak`, :func:`pareto_front`

docs/MODEL.md describes the model, the MILP and what is exact.
"""

from .cost import CostModel, Prediction
from .structure import Node, RankModel, StructureError, reduce_rank

__all__ = ["CostModel", "Prediction", "Node", "RankModel", "StructureError", "reduce_rank"]
