"""Schema retrieval: words, ranking, join paths, budgets, the saved index, CLI, export."""

from __future__ import annotations

import dataclasses
import json

import pytest

from data_create import cli, export, prompt
from data_create.records import Column, ForeignKey, Sample, SchemaMetadata, Table
from data_create.retrieve import Retriever, evaluate, gold_references, join_graph, words


def col(name, raw="integer", comment=None, samples=()):
    return Column(name, raw, "text" if "char" in raw else "integer", comment=comment,
                  samples=tuple(samples))  # fmt: skip


def table(name, cols, comment=None, pk=(), fks=()):
    return Table(name, comment=comment, columns=tuple(cols), primary_key=pk,
                 foreign_keys=tuple(fks))  # fmt: skip


AUTHOR = table("author", [col("aid"), col("name", "varchar(80)", "author's full name"),
                          col("homepage", "text")], "people who write papers")  # fmt: skip
WRITES = table("writes", [col("aid"), col("pid")])  # a bridge: no words of its own
PUBLICATION = table("publication", [col("pid"), col("title", "text", "paper title"),
                                    col("year"), col("citation_num")])  # fmt: skip
ORDERS = table(
    "t_order",
    [col("order_id"), col("cust_id"), col("order_amt", "decimal(10,2)", "订单金额"),
     col("status", "varchar(10)", "订单状态", ("paid", "shipped"))]
    + [col(f"extra_{i:02d}", "varchar(40)", f"spare field {i}") for i in range(30)],
    "订单主表", pk=("order_id",),
    fks=(ForeignKey(("cust_id",), "customer", ("cust_id",)),),
)  # fmt: skip
CUSTOMER = table("customer", [col("cust_id"), col("cust_nm", "varchar(40)", "客户姓名"),
                              col("city", "varchar(20)", "所在城市", ("上海", "北京"))],
                 "客户", pk=("cust_id",))  # fmt: skip
FILLER = [table(f"log_{w}", [col("id"), col(f"{w}_text", "text")]) for w in
          ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")]  # fmt: skip

META = SchemaMetadata(
    "sqlite", "sqlite", "lib",
    (AUTHOR, WRITES, PUBLICATION, ORDERS, CUSTOMER, *FILLER),
)  # fmt: skip


@pytest.fixture(scope="module")
def retriever():
    return Retriever.build(META)


def test_words_split_identifiers_stem_and_segment_chinese():
    assert words("custOrderID") == ["cust", "order", "id"]
    assert "quantiti" in words("order_qty", identifier=True)  # abbreviation expanded
    assert words("Orders") == words("order")  # stemmed
    zh = words("每个城市的订单金额")
    assert "城市" in zh and "订单" in zh and "金额" in zh and "的" not in zh


def test_lexical_hit_by_chinese_comment_and_sample_value(retriever):
    hit = retriever.retrieve("上海的客户有多少", k=2)
    assert hit.tables[0] == "customer"
    assert retriever.retrieve("how many orders are shipped", k=1).tables == ("t_order",)


def test_join_graph_links_declared_and_shared_key_columns():
    graph = join_graph(META)
    names = [t.name for t in META.tables]
    linked = {names[j] for j in graph[names.index("writes")]}
    assert linked == {"author", "publication"}  # aid / pid shared, nothing declared
    assert "customer" in {names[j] for j in graph[names.index("t_order")]}


def test_bridge_table_joins_two_hits(retriever):
    hit = retriever.retrieve("titles of papers by author name", k=3)
    assert set(hit.tables) == {"author", "publication", "writes"}  # writes: a join boost
    lexical = retriever.retrieve("titles of papers by author name", k=3, expand=False)
    assert "writes" not in lexical.tables


def test_required_tables_take_the_last_places_and_k_holds(retriever):
    hit = retriever.retrieve("titles of papers by author name", k=3, required_tables=["customer"])
    assert "customer" in hit.tables and len(hit.tables) == 3


def test_columns_pruned_inside_the_budget_keys_and_matches_kept(retriever):
    full = retriever.retrieve("订单金额", k=1, budget_tokens=5000)
    assert len(full.columns["t_order"]) == len(ORDERS.columns)
    small = retriever.retrieve("订单金额", k=1, budget_tokens=120)
    shown = small.columns["t_order"]
    assert {"order_id", "cust_id", "order_amt"} <= set(shown)  # keys + the matching column
    assert "extra_05" not in shown
    assert small.tokens <= 120
    assert f"... {len(ORDERS.columns) - len(shown)} more columns" in small.cards_text
    forced = retriever.retrieve(
        "订单金额", k=1, budget_tokens=120, required_columns={"t_order": ["extra_05"]}
    )
    assert "extra_05" in forced.columns["t_order"]


def test_budget_drops_low_ranked_tables_but_never_required_ones(retriever):
    hit = retriever.retrieve("paper titles", k=5, budget_tokens=40, required_tables=["author"])
    assert "author" in hit.tables
    assert len(hit.tables) < 5


def test_index_saved_loaded_and_rebuilt_only_when_the_schema_changes(tmp_path, monkeypatch):
    first = Retriever.open(META, tmp_path / "idx")
    assert (tmp_path / "idx" / "index.json").exists()
    calls = []
    real_build = Retriever.build.__func__

    def counting_build(cls, *a, **kw):
        calls.append(1)
        return real_build(cls, *a, **kw)

    monkeypatch.setattr(Retriever, "build", classmethod(counting_build))
    again = Retriever.open(META, tmp_path / "idx")
    assert calls == [] and again.key == first.key
    q = "titles of papers by author name"
    assert again.retrieve(q, k=3).tables == first.retrieve(q, k=3).tables
    changed = META.replace(
        tables=(*META.tables, table("review", [col("rid"), col("pid"), col("stars")]))
    )
    rebuilt = Retriever.open(changed, tmp_path / "idx")
    assert calls == [1] and rebuilt.key != first.key
    assert "review" in Retriever.load(tmp_path / "idx").retrieve("review stars", k=1).tables


def test_gold_references_resolve_aliases_and_subqueries():
    sql = (
        "SELECT a.name FROM author a WHERE a.aid IN "
        "(SELECT w.aid FROM writes w JOIN publication p ON p.pid = w.pid WHERE year > 2000)"
    )
    tables, columns = gold_references(sql, META)
    assert tables == ("author", "writes", "publication")
    assert columns["publication"] == ("pid", "year")
    assert gold_references("SELECT nonsense FROM", META) == ((), {})


def test_evaluate_counts_recall_and_lists_misses(retriever):
    pairs = [
        ("titles of papers by author name",
         "SELECT p.title FROM author a JOIN writes w ON a.aid = w.aid "
         "JOIN publication p ON p.pid = w.pid"),
        ("spare field 7 of orders", "SELECT extra_07 FROM t_order"),
        ("who is it", "SELECT 1"),
    ]  # fmt: skip
    result = evaluate(retriever, pairs, k=1, expand=False)
    assert result["scored"] == 2 and result["unscored"] == 1
    assert result["table_recall"] == 0.5
    assert any(m.get("missing_tables") for m in result["misses"])


def test_cli_eval_json(tmp_path, capsys):
    meta_path = tmp_path / "metadata.json"
    meta_path.write_text(META.to_json(), encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "上海的客户", "query": "SELECT cust_nm FROM customer"}) + "\n"
        + json.dumps({"question": "paper titles", "gold_sql": "SELECT title FROM publication"})
        + "\n",
        encoding="utf-8",
    )  # fmt: skip
    argv = ["retrieve", "--metadata", str(meta_path), "--index", str(tmp_path / "idx"),
            "--eval", str(questions), "-k", "2", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 2 and out["questions"] == 2
    assert out["table_recall"] == 1.0 and out["column_recall"] == 1.0 and out["misses"] == []
    assert cli.main(["retrieve", "--metadata", str(meta_path), "--index",
                     str(tmp_path / "idx"), "paper titles", "-k", "1"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("publication")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no sql"}\n', encoding="utf-8")
    argv[argv.index(str(questions))] = str(bad)
    assert cli.main(argv) == 2
    assert "line 1 has no question and sql" in capsys.readouterr().err


def _sample(i, question, sql, tables):
    return Sample(
        id=f"s{i}", question=question, sql=sql, dialect="sqlite", database="lib",
        topic="t", tables=tables, difficulty="easy", features=(), language="en",
        generator="synth/1", validation={"executed": False}, created_at="2026-01-01T00:00:00Z",
    )  # fmt: skip


def test_export_with_retrieved_context_holds_every_sql_table(tmp_path):
    samples = [
        _sample(0, "Which customers live in 上海?", "SELECT cust_nm FROM customer", ("customer",)),
        _sample(1, "What is in spare field 3?", "SELECT o.extra_03, c.city FROM t_order o "
                "JOIN customer c ON c.cust_id = o.cust_id", ("t_order", "customer")),
        _sample(2, "How many log lines?", "SELECT COUNT(*) FROM log_beta", ("log_beta",)),
        _sample(3, "Paper titles after 2000?", "SELECT title FROM publication WHERE year > 2000",
                ("publication",)),
    ]  # fmt: skip
    summary = export.export(
        samples, tmp_path, metadata=META, dev_ratio=0.0, schema_context="retrieved",
        retrieval_k=3, retrieval_tokens=400,
    )  # fmt: skip
    assert summary.tables_covered == 4 and summary.prompt_tokens["n"] == 4
    assert (tmp_path / "retrieval_index" / "index.json").exists()
    records = [json.loads(x) for x in (tmp_path / "train_alpaca.jsonl").read_text().splitlines()]
    by_q = {r["instruction"].rsplit("\n", 1)[-1]: r for r in records}
    for s in samples:
        text = by_q[s.question]["instruction"]
        for t in s.tables:
            assert f"TABLE {t} " in text or f"TABLE {t}\n" in text
        # the same block serving would build for this question, plus the gold tables
        assert text == prompt.user_prompt(s.question, "sqlite", _block(s), "en")
    assert "extra_03" in by_q[samples[1].question]["instruction"]


def _block(s):
    r = Retriever.build(META)
    tables, columns = gold_references(s.sql, META)
    return r.retrieve(s.question, 3, budget_tokens=400, required_tables=(*tables, *s.tables),
                      required_columns=columns).cards_text  # fmt: skip


def test_scale_ten_thousand_tables_builds_and_retrieves():
    many = tuple(
        table(f"t{i:05d}", [col("id"), col(f"ref_{i - 1:05d}" if i else "root"),
                            col(f"c{i % 97}_value", "varchar(20)", f"metric {i % 89}")],
              pk=("id",),
              fks=(ForeignKey((f"ref_{i - 1:05d}",), f"t{i - 1:05d}", ("id",)),) if i else ())
        for i in range(10_000)
    )  # fmt: skip
    big = META.replace(tables=many + META.tables)
    r = Retriever.build(big)
    hit = r.retrieve("titles of papers by author name", k=5)
    assert {"author", "publication", "writes"} <= set(hit.tables)


def test_dense_embeddings_fuse_with_bm25():
    pytest.importorskip("model2vec")
    from data_create.retrieve import packaged_embedding_model

    if packaged_embedding_model() is None:
        pytest.skip("tokenlearn-static-model is not installed")
    r = Retriever.build(META, embeddings="packaged")
    assert r.embedding_model is not None
    hit = r.retrieve("customer city", k=2, dense_weight=0.5)
    assert hit.tables[0] == "customer"
    lex_only = r.table_scores("customer city", dense_weight=0)
    fused = r.table_scores("customer city", dense_weight=0.5)
    assert (lex_only != fused).any()


@pytest.mark.postgres
def test_defog_schema_in_postgres(pg_database):
    """A defog database loaded into PostgreSQL, read with our own metadata.extract."""
    from conftest import psql_file, shared_file

    from data_create import metadata
    from data_create.connect import connect

    psql_file(pg_database, shared_file("defog", "academic", "academic.sql"))
    db = connect(pg_database)
    try:
        meta = metadata.extract(db)
    finally:
        db.dispose()
    r = Retriever.build(meta)
    sql = (
        "SELECT author.name, SUM(publication.citation_num) FROM author JOIN writes "
        "ON author.aid = writes.aid JOIN publication ON writes.pid = publication.pid "
        "GROUP BY author.name"
    )
    result = evaluate(r, [("What is the total number of citations received by each author?",
                           sql)], k=5)  # fmt: skip
    assert result["table_recall"] == 1.0, result["misses"]
    hit = r.retrieve("total number of citations received by each author", k=5)
    assert "writes" in hit.tables
    assert dataclasses.asdict(hit)["tokens"] > 0


def test_eval_model_live_prompts_use_the_saved_index(tmp_path):
    from nl2sql_fine_tuning import eval_model

    Retriever.open(META, tmp_path / "idx")
    schema = eval_model.retrieved_schema(tmp_path / "idx", k=2)
    block = schema("上海的客户有多少")
    assert block.startswith("TABLE customer ")
    expected = Retriever.build(META).retrieve("上海的客户有多少", 2).cards_text
    assert block == expected


def test_eval_model_live_generation_sends_the_retrieved_block(tmp_path):
    from nl2sql_fine_tuning import eval_model
    from tests.fake_llm import FakeLLM, Reply

    Retriever.open(META, tmp_path / "idx")
    item = eval_model.GoldItem(
        "0", "上海的客户有多少", "SELECT COUNT(*) FROM customer",
        messages=(("system", "s"), ("user", "the training prompt, gold tables forced in")),
    )  # fmt: skip
    with FakeLLM(lambda request, index: Reply(content="SELECT 1")) as llm:
        eval_model.generate(
            [item], base_url=llm.base_url, model="m", dialect="sqlite",
            schema_context=eval_model.retrieved_schema(tmp_path / "idx", k=2),
        )  # fmt: skip
        sent = llm.requests[0]["messages"]
    block = Retriever.build(META).retrieve(item.question, 2).cards_text
    assert sent == prompt.messages(item.question, "sqlite", block)
