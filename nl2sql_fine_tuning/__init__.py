"""nl2sql-factory's model side: LLaMA-Factory recipes, evaluation and serving checks.

Training dependencies are optional (``pip install "nl2sql-factory[train]"``) and are
imported only by the code that trains.
"""

__version__ = "0.1.0"
