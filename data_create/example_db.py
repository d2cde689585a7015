"""Old name of :mod:`data_create.example`, the bundled example database.

Kept only while ``nl2sql_fine_tuning/eval_model.py`` (being restructured on branch i11b)
and the unmerged branch i14 import ``data_create.example_db``; new code imports
:mod:`data_create.example`.  Remove once nothing does.
"""

from .example import *  # noqa: F403
from .example import __all__  # noqa: F401
