"""Windowing and sub-word aggregation: exact offsets, no duplicates or cut spans at window edges."""

import re
from types import SimpleNamespace

import pytest
import torch

from pipeline.commands.eval.conll import LABELS
from transforms.inference.loading import load_tokenizer, packaged_minilm
from transforms.ner.encoding import case_shape, encode_windows
from transforms.ner.inference import predict_entities

B_PER, I_PER = LABELS.index("B-PER"), LABELS.index("I-PER")


class TitleCaseTagger(torch.nn.Module):
    """A deterministic stand-in for a trained model: Title-case words are persons.

    A word continues an entity when the token before it is also Title-case, so a window that starts
    inside a name labels its first word B- (wrong): correct output proves edge words are taken from
    the window where they sit furthest from the edge."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), case_token_types=True)

    def forward(self, input_ids, token_type_ids, attention_mask):
        title = token_type_ids == 1
        prev = torch.zeros_like(title)
        prev[:, 1:] = title[:, :-1]
        logits = torch.zeros(*input_ids.shape, len(LABELS))
        logits[..., 0] = 1.0
        logits[..., B_PER] = torch.where(title & ~prev, 5.0, -5.0)
        logits[..., I_PER] = torch.where(title & prev, 5.0, -5.0)
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(packaged_minilm())


def expected_spans(text):
    # maximal runs of Title-case words (pre-tokenizer words: letters only here)
    return {(m.start(), m.end()) for m in re.finditer(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*", text)}


def test_long_text_windows_merge_without_duplicates_or_cuts(tokenizer):
    names = ["Volodymyr Zelenskyy", "Emmanuel Macron", "Ursula Von Der Leyen", "Recep Tayyip Erdogan"]
    words = []
    for i in range(700):
        words.append("the talks went on and on")
        words.append(names[i % len(names)])
    text = " ".join(words)
    windows = encode_windows(tokenizer, [text], max_length=64, stride=16, case_token_types=True)
    assert len(windows) > 30 and sum(len(w) for w in windows) > 512 * 4
    spans = predict_entities(TitleCaseTagger(), tokenizer, [text], max_length=64, stride=16)[0]
    got = [(s.start, s.end) for s in spans]
    assert len(got) == len(set(got))
    assert set(got) == expected_spans(text)
    assert all(s.label == "PER" for s in spans)


@pytest.mark.parametrize("max_length,stride", [(16, 4), (23, 7), (64, 32), (512, 64)])
def test_window_sizes_do_not_change_the_result(tokenizer, max_length, stride):
    text = ("Olena Zelenska met Jens Stoltenberg in Brussels while Kaja Kallas waited. " * 12).strip()
    spans = predict_entities(TitleCaseTagger(), tokenizer, [text], max_length=max_length, stride=stride)[0]
    assert {(s.start, s.end) for s in spans} == expected_spans(text)


def test_offsets_index_the_original_text_with_unicode_and_punctuation(tokenizer):
    text = "“Zelenskyy’s” aide met Émile Zola — then Łukasz and Ölaf; SAMP/T and Mirage 2000 arrived."
    spans = predict_entities(TitleCaseTagger(), tokenizer, [text])[0]
    got = {text[s.start : s.end] for s in spans}
    assert {"Zelenskyy", "Émile Zola", "Łukasz", "Ölaf", "Mirage"} <= got
    assert all(text[s.start : s.end].strip() == text[s.start : s.end] for s in spans)


def test_case_shape():
    assert [case_shape(w) for w in ["nabu", "Kyiv", "NATO", "McDonald", "I", "2000"]] == [0, 1, 2, 3, 1, 0]


def test_batch_of_many_texts_keeps_order(tokenizer):
    texts = [f"item{i} said hello to Mister Smith" if i % 2 else "nothing here" for i in range(40)]
    out = predict_entities(TitleCaseTagger(), tokenizer, texts, max_batch_tokens=64)
    for text, spans in zip(texts, out):
        assert {text[s.start : s.end] for s in spans} == ({"Mister Smith"} if "Mister" in text else set())


def test_length_sorted_batches_cover_every_window_once_within_the_token_budget():
    from transforms.ner.encoding import Window
    from transforms.ner.inference import length_sorted_batches

    lengths = [5, 128, 17, 128, 3, 64, 300, 128, 9]
    windows = [Window(0, [1] * n, [0] * n, [(0, 0)] * n, [None] * n) for n in lengths]
    batches = length_sorted_batches(windows, max_batch_tokens=256)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)  # one pass over the windows in length order
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 256 or len(b) == 1  # only the 300-token window exceeds
    assert [lengths[i] for i in batches[-1]] == [300]


def test_window_defaults_are_one_setting():
    """The tokenizer windows, the handler, the CLI and the training-time evaluation read NER with the
    same window and stride: one pair of constants, no default of their own."""
    import inspect

    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.commands.train import ner as train_ner
    from pipeline.options import NewsIngestOptions
    from transforms.ner.encoding import STRIDE_TOKENS, WINDOW_TOKENS
    from transforms.ner.handler import NerModelHandler

    sig = inspect.signature(encode_windows).parameters
    assert (sig["max_length"].default, sig["stride"].default) == (WINDOW_TOKENS, STRIDE_TOKENS)
    handler = NerModelHandler()
    assert (handler.ner.window_tokens, handler.ner.stride_tokens) == (WINDOW_TOKENS, STRIDE_TOKENS)
    opts = PipelineOptions([]).view_as(NewsIngestOptions)
    assert (opts.ner_window, opts.ner_stride) == (WINDOW_TOKENS, STRIDE_TOKENS)
    assert "STRIDE_TOKENS" in inspect.getsource(train_ner.evaluate)
