"""The learning loop: failures and feedback become validated training data, a retrained
model must pass an execution-accuracy gate, versions are registered and can be rolled back.

Modules: :mod:`.intake` (feedback store, request log, plain JSONL), :mod:`.dataset`
(dataset versions with lineage), :mod:`.train` (recipe, llamafactory-cli train/predict,
evaluation, the gate), :mod:`.iterate` (one iteration), :mod:`.registry` (versions,
promote, rollback), :mod:`.monitor` (request-log report) and :mod:`.cli`
(``python -m nl2sql_fine_tuning.loop``).  Schema drift is ``python -m data_create drift``.
Importing this package needs neither torch nor LLaMA-Factory.
"""
