"""Export: LLaMA-Factory's dataset_info conventions, the skeleton split, determinism, cards."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from data_create import cards, export, prompt
from data_create.errors import ConfigError
from data_create.records import Column, ForeignKey, Sample, SchemaMetadata, Table, normalize_type


def col(name, raw="integer", comment=None, samples=()):
    return Column(name, raw, normalize_type(raw), True, None, comment, tuple(samples))


METADATA = SchemaMetadata(
    engine="sqlite",
    dialect="sqlite",
    database="shop",
    tables=(
        Table(
            "customers",
            comment="客户 / Customers",
            row_count=50,
            columns=(col("customer_id"), col("name", "text", "姓名", ["Ann", "Bo"])),
            primary_key=("customer_id",),
        ),
        Table(
            "orders",
            comment="订单主表 / Sales order header",
            row_count=800,
            columns=(
                col("order_id"),
                col("customer_id"),
                col("status", "varchar(16)", "订单状态", ["completed", "shipped"]),
            ),
            primary_key=("order_id",),
            foreign_keys=(ForeignKey(("customer_id",), "customers", ("customer_id",)),),
        ),
        Table("audit_log", row_count=5, columns=(col("id"), col("what", "text"))),
    ),
)


def _fallback_skeleton(sql: str, dialect: str) -> str:
    # Literals abstracted; enough to group variants of one query shape.
    return re.sub(r"'[^']*'|\b\d+\b", "?", sql).strip().lower()


@pytest.fixture
def skeleton(monkeypatch):
    """data_create.dedupe.skeleton, or a stand-in while that module is being written."""
    try:
        from data_create.dedupe import skeleton
    except ImportError:
        stub = types.ModuleType("data_create.dedupe")
        stub.skeleton = _fallback_skeleton
        monkeypatch.setitem(sys.modules, "data_create.dedupe", stub)
        return _fallback_skeleton
    return skeleton


SHAPES = [
    ("How many orders have status {v}?", "SELECT COUNT(*) FROM orders WHERE status = '{v}'", ("orders",)),
    ("List order ids of customer {n}.", "SELECT order_id FROM orders WHERE customer_id = {n}", ("orders",)),
    ("Top {n} customers by orders?", "SELECT c.name, COUNT(*) AS n FROM customers AS c JOIN orders AS o ON o.customer_id = c.customer_id GROUP BY c.name ORDER BY n DESC LIMIT {n}", ("customers", "orders")),
    ("Customers named {v}?", "SELECT customer_id FROM customers WHERE name = '{v}'", ("customers",)),
    ("Orders above id {n}?", "SELECT order_id, status FROM orders WHERE order_id > {n}", ("orders",)),
    ("Distinct statuses?", "SELECT DISTINCT status FROM orders", ("orders",)),
    ("Audit entries about {v}?", "SELECT id FROM audit_log WHERE what LIKE '%{v}%'", ("audit_log",)),
    ("Customers with more than {n} orders?", "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > {n}", ("orders",)),
]  # fmt: skip


def make_samples(n_per_shape=5, shapes=SHAPES, language="en") -> list[Sample]:
    out = []
    for si, (q, sql, tables) in enumerate(shapes):
        for k in range(n_per_shape):
            v, n = f"v{k}", k + 1
            out.append(
                Sample(
                    id=f"s{si:02d}-{k:02d}",
                    question=q.format(v=v, n=n),
                    sql=sql.format(v=v, n=n) + (";" if k % 2 else ""),
                    dialect="sqlite",
                    database="shop",
                    topic=f"topic{si % 3}",
                    tables=tables,
                    difficulty="easy",
                    features=("filter",),
                    language=language,
                    generator="synth/1",
                    validation={"rows": 1, "elapsed_ms": 1.0, "empty": False, "truncated": False},
                    created_at="2026-01-01T00:00:00Z",
                )
            )
    return out


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


# --- a reader that follows LLaMA-Factory 0.9.x: data/parser.py (DatasetAttr defaults,
# --- columns/tags) and data/converter.py (alpaca "prompt\nquery"; sharegpt tag mapping).

LF_DEFAULTS = {
    "prompt": "instruction", "query": "input", "response": "output", "system": None,
    "messages": "conversations", "role_tag": "from", "content_tag": "value",
    "user_tag": "human", "assistant_tag": "gpt",
}  # fmt: skip


def lf_conversations(dataset_dir: Path, name: str) -> list[dict]:
    """(system, user, assistant) per record, as LLaMA-Factory would read dataset `name`."""
    info = json.loads((dataset_dir / "dataset_info.json").read_text(encoding="utf-8"))[name]
    attr = {**LF_DEFAULTS, **info.get("columns", {}), **info.get("tags", {})}
    formatting = info.get("formatting", "alpaca")
    out = []
    for rec in read_jsonl(dataset_dir / info["file_name"]):
        system = rec[attr["system"]] if attr["system"] else ""
        if formatting == "alpaca":
            query = [rec[attr[c]] for c in ("prompt", "query") if rec[attr[c]]]
            user, assistant = "\n".join(query), rec[attr["response"]]
        else:
            assert formatting == "sharegpt"
            msgs = rec[attr["messages"]]
            assert [m[attr["role_tag"]] for m in msgs] == [attr["user_tag"], attr["assistant_tag"]]
            user, assistant = (m[attr["content_tag"]] for m in msgs)
        out.append({"system": system, "user": user, "assistant": assistant})
    return out


def test_dataset_info_registers_four_datasets_as_llamafactory_expects(tmp_path, skeleton):
    summary = export.export(make_samples(), tmp_path, metadata=METADATA)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    alpaca_cols = {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "system": "system",
    }
    assert info == {
        "nl2sql_train": {"file_name": "train_alpaca.jsonl", "columns": alpaca_cols},
        "nl2sql_dev": {"file_name": "dev_alpaca.jsonl", "columns": alpaca_cols},
        **{
            f"nl2sql_{split}_sharegpt": {
                "file_name": f"{split}_sharegpt.jsonl",
                "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system"},
                "tags": {
                    "role_tag": "from",
                    "content_tag": "value",
                    "user_tag": "human",
                    "assistant_tag": "gpt",
                },
            }
            for split in ("train", "dev")
        },
    }
    assert summary.datasets == tuple(info)
    for name in info:  # file_name resolves against dataset_dir = out_dir
        assert (tmp_path / info[name]["file_name"]).is_file()


def test_every_line_is_a_record_with_the_right_fields(tmp_path, skeleton):
    samples = make_samples()
    summary = export.export(samples, tmp_path, metadata=METADATA, dev_ratio=0.25)
    assert summary.train + summary.dev == len(samples)
    assert summary.dev > 0
    for split, n in (("train", summary.train), ("dev", summary.dev)):
        alpaca = read_jsonl(tmp_path / f"{split}_alpaca.jsonl")
        sharegpt = read_jsonl(tmp_path / f"{split}_sharegpt.jsonl")
        assert len(alpaca) == len(sharegpt) == n
        for a, s in zip(alpaca, sharegpt, strict=True):
            assert set(a) == {"instruction", "input", "output", "system"}
            assert a["input"] == "" and a["instruction"] and a["system"]
            assert not a["output"].endswith(";") and "```" not in a["output"]
            assert set(s) == {"conversations", "system"}
            assert s["conversations"][0]["value"] == a["instruction"]
            assert s["conversations"][1]["value"] == a["output"]
    split = json.loads((tmp_path / "split.json").read_text())
    assert sorted(split["train"] + split["dev"]) == sorted(s.id for s in samples)


def test_llamafactory_user_turn_equals_serving_messages(tmp_path, skeleton):
    samples = make_samples()
    export.export(samples, tmp_path, metadata=METADATA, dev_ratio=0.25)
    split = json.loads((tmp_path / "split.json").read_text())
    by_id = {s.id: s for s in samples}
    for part in ("train", "dev"):
        expected = [by_id[i] for i in split[part]]
        for name in (f"nl2sql_{part}", f"nl2sql_{part}_sharegpt"):
            turns = lf_conversations(tmp_path, name)
            assert len(turns) == len(expected)
            for turn, s in zip(turns, expected, strict=True):
                served = prompt.messages(s.question, s.dialect)
                assert turn["system"] == served[0]["content"]
                assert turn["user"] == served[1]["content"]
                assert turn["assistant"] == s.sql.rstrip(";")


def test_no_skeleton_on_both_sides_and_dev_share_near_ratio(tmp_path, skeleton):
    # 40 shapes x 5 variants: whole groups of 5 must move together.
    shapes = [
        (f"Q{i} {{v}}", f"SELECT {'a, ' * i}b FROM orders WHERE status = '{{v}}'", ("orders",))
        for i in range(40)
    ]
    samples = make_samples(5, shapes)
    summary = export.export(samples, tmp_path, metadata=METADATA, dev_ratio=0.2, seed=3)
    train_sk = {
        skeleton(r["output"], "sqlite") for r in read_jsonl(tmp_path / "train_alpaca.jsonl")
    }
    dev_sk = {skeleton(r["output"], "sqlite") for r in read_jsonl(tmp_path / "dev_alpaca.jsonl")}
    assert dev_sk and train_sk and not train_sk & dev_sk
    assert len(train_sk | dev_sk) == 40
    assert summary.dev == 40  # 20% of 200, in whole groups of 5
    assert summary.dev_skeletons == len(dev_sk) == 8
    assert summary.train_skeletons == len(train_sk) == 32


def test_uneven_groups_still_land_near_the_ratio():
    sizes = [1, 2, 3, 5, 8, 13, 21, 1, 1, 2, 4, 7, 9, 30, 3, 3, 6, 10, 2, 1]
    skeletons = [f"sk{g}" for g, n in enumerate(sizes) for _ in range(n)]
    for seed in range(10):
        train, dev = export.split_by_skeleton(skeletons, 0.1, seed)
        assert sorted(train + dev) == list(range(len(skeletons)))
        assert not {skeletons[i] for i in train} & {skeletons[i] for i in dev}
        assert abs(len(dev) - round(0.1 * len(skeletons))) <= 2, (seed, len(dev))


def test_split_is_deterministic_and_seeded(tmp_path, skeleton):
    samples = make_samples()
    a = export.export(samples, tmp_path / "a", metadata=METADATA, dev_ratio=0.3, seed=7)
    b = export.export(samples, tmp_path / "b", metadata=METADATA, dev_ratio=0.3, seed=7)
    for name in ("train_alpaca.jsonl", "dev_alpaca.jsonl", "train_sharegpt.jsonl", "split.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (a.train, a.dev) == (b.train, b.dev)
    dev_sets = set()
    for seed in range(6):
        _train, dev = export.split_by_skeleton([s.sql[:20] for s in samples], 0.3, seed)
        dev_sets.add(tuple(dev))
    assert len(dev_sets) > 1  # the seed changes which groups go to dev


def test_dev_ratio_zero_writes_empty_dev_files(tmp_path, skeleton):
    summary = export.export(make_samples(), tmp_path, metadata=METADATA, dev_ratio=0)
    assert summary.dev == 0
    assert (tmp_path / "dev_alpaca.jsonl").read_text() == ""
    assert (tmp_path / "dev_sharegpt.jsonl").read_text() == ""
    assert len(read_jsonl(tmp_path / "train_alpaca.jsonl")) == len(make_samples())


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dev_ratio_out_of_range(tmp_path, skeleton, ratio):
    with pytest.raises(ConfigError, match="dev ratio"):
        export.export(make_samples(), tmp_path, metadata=METADATA, dev_ratio=ratio)


def test_unknown_schema_context(tmp_path, skeleton):
    with pytest.raises(ConfigError, match="schema context"):
        export.export(make_samples(), tmp_path, metadata=METADATA, schema_context="ddl")


def test_existing_dataset_info_is_merged(tmp_path, skeleton):
    other = {"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}
    stale = {"nl2sql_train": {"file_name": "old.jsonl"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps({**other, **stale}))
    export.export(make_samples(), tmp_path, metadata=METADATA)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["alpaca_en_demo"] == other["alpaca_en_demo"]
    assert info["nl2sql_train"]["file_name"] == "train_alpaca.jsonl"
    assert len(info) == 5


def test_broken_dataset_info_is_an_error_not_overwritten(tmp_path, skeleton):
    (tmp_path / "dataset_info.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"dataset_info\.json"):
        export.export(make_samples(), tmp_path, metadata=METADATA)
    assert (tmp_path / "dataset_info.json").read_text() == "{not json"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_cards_mode_puts_the_sample_tables_cards_in_the_user_turn(tmp_path, skeleton, language):
    samples = make_samples(2, language=language)
    export.export(
        samples, tmp_path, metadata=METADATA, dev_ratio=0, schema_context="cards", card_tokens=300
    )
    turns = lf_conversations(tmp_path, "nl2sql_train")
    split = json.loads((tmp_path / "split.json").read_text())
    by_id = {s.id: s for s in samples}
    card_text = {c.table: c.text for c in cards.build(METADATA, budget_tokens=300)}
    for turn, sid in zip(turns, split["train"], strict=True):
        s = by_id[sid]
        user = turn["user"]
        for table, text in card_text.items():
            assert (text in user) == (table in s.tables), (table, s.tables)
        context = "\n\n".join(
            card_text[t] for t in ("customers", "orders", "audit_log") if t in s.tables
        )
        assert user == prompt.messages(s.question, "sqlite", context, language)[1]["content"]
        assert user.index("TABLE ") < user.index(s.question)
        # the sharegpt twin carries the same user turn
    share = lf_conversations(tmp_path, "nl2sql_train_sharegpt")
    assert [t["user"] for t in share] == [t["user"] for t in turns]
