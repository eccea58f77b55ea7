"""Graph-level settings: model batch sizes; CoNLL sentences joined into articles for eval-ner --group."""

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.graph import topic_handler
from pipeline.options import NewsIngestOptions
from transforms.inference.settings import InferenceSettings
from transforms.topics.taxonomy import load_taxonomy


def test_pipeline_batches_start_at_min_batch_size():
    opts = PipelineOptions(["--output", "x", "--batch-size", "32", "--min-batch-size", "16"]).view_as(NewsIngestOptions)
    settings = InferenceSettings.from_options(opts)
    assert topic_handler(opts, load_taxonomy(), settings).batch_elements_kwargs() == {
        "min_batch_size": 16,
        "max_batch_size": 32,
    }
    small = PipelineOptions(["--output", "x", "--batch-size", "4"]).view_as(NewsIngestOptions)
    assert InferenceSettings.from_options(small).min_batch_size == 4  # never above the maximum


def test_settings_from_options_reach_every_handler_unchanged():
    from transforms.ner.handler import NerModelHandler

    opts = PipelineOptions(
        [
            "--output",
            "x",
            "--inference-backend",
            "torch",
            "--torch-threads",
            "3",
            "--ner-window",
            "96",
            "--ner-stride",
            "24",
            "--max-ner-chars",
            "500",
            "--allow-download",
        ]
    ).view_as(NewsIngestOptions)
    settings = InferenceSettings.from_options(opts)
    assert (
        settings.backend,
        settings.threads,
        settings.ner_window,
        settings.ner_stride,
        settings.max_ner_chars,
        settings.allow_download,
    ) == ("torch", 3, 96, 24, 500, True)
    ner, topics = NerModelHandler(None, settings), topic_handler(opts, load_taxonomy(), settings)
    assert ner.settings is settings and topics.settings is settings
    assert (ner.max_length, ner.stride, ner.max_chars) == (96, 24, 500)
    try:
        settings.threads = 1
    except AttributeError:
        pass
    else:
        raise AssertionError("InferenceSettings must be frozen")


def test_default_backend_is_onnxruntime_int8():
    opts = PipelineOptions(["--output", "x"]).view_as(NewsIngestOptions)
    assert InferenceSettings.from_options(opts).backend == "onnxruntime-int8" == InferenceSettings().backend


def test_joined_conll_sentences_keep_every_gold_entity_at_its_shifted_offset():
    from pipeline.commands.eval.conll import Sentence, join_sentences

    a = Sentence(["Zelensky", "met", "Stoltenberg", "."], ["B-PER", "O", "B-PER", "O"])
    b = Sentence(["NATO", "Air", "Policing", "resumed"], ["B-ORG", "B-MISC", "I-MISC", "O"])
    (doc,) = join_sentences([a, b], 2)
    shift = len(a.text) + 1
    assert doc.text == a.text + " " + b.text
    assert doc.entities() == a.entities() | {(s + shift, e + shift, t) for s, e, t in b.entities()}
    assert join_sentences([a, b], 1) == [a, b]
