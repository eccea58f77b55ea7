"""The shipped models' tokenizers load as their tokenizer.json alone (no lookup in transformers' model
registry) and encode exactly as the class their config names."""

import json

import pytest
from transformers import AutoTokenizer

from transforms.inference.loading import load_tokenizer, packaged_minilm, plain_fast_tokenizer
from transforms.ner.handler import DEFAULT_NER_MODEL

TEXTS = [
    "Zelensky met NATO officials in Brussels on Tuesday; the talks covered air-defence systems.",
    "Ukraine's parliament (Verkhovna Rada) passed the anti-corruption bill — 262 votes in favour.",
    "ШАХЕД drones hit Odesa.  Tabs\tand\nnewlines, émigrés, naïve café, 1,000,000 € and 5G/LTE.",
    " ".join(["A long article about drone production in Lviv and Kharkiv."] * 40),
    "",
]


@pytest.mark.parametrize("folder", [DEFAULT_NER_MODEL, packaged_minilm()], ids=["ner", "minilm"])
def test_plain_tokenizer_encodes_like_its_own_class(folder):
    assert plain_fast_tokenizer(str(folder))
    plain, own = load_tokenizer(str(folder)), AutoTokenizer.from_pretrained(str(folder))
    assert type(plain) is not type(own)  # the registry lookup really is skipped
    for kw in (
        {"truncation": True, "max_length": 64},
        {
            "truncation": True,
            "max_length": 64,
            "stride": 16,
            "return_overflowing_tokens": True,
            "return_offsets_mapping": True,
        },
    ):
        a, b = plain(TEXTS, **kw), own(TEXTS, **kw)
        assert {k: a[k] for k in a} == {k: b[k] for k in b}
        assert [a.word_ids(i) for i in range(len(a["input_ids"]))] == [
            b.word_ids(i) for i in range(len(b["input_ids"]))
        ]
    assert plain.pad_token_id == own.pad_token_id and plain.is_fast
    assert type(load_tokenizer(str(folder), own_class=True)) is type(own)


def test_other_tokenizer_classes_go_through_the_registry(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    assert not plain_fast_tokenizer(str(tmp_path))
    (tmp_path / "tokenizer_config.json").write_text("not json")
    assert not plain_fast_tokenizer(str(tmp_path))
    assert not plain_fast_tokenizer(str(tmp_path / "missing"))
