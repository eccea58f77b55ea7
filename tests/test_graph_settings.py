"""Graph-level settings: model batch sizes; CoNLL sentences joined into articles for eval-ner --group."""

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import RunConfig
from pipeline.graph import topic_handler
from transforms.inference.settings import InferenceSettings
from transforms.topics.taxonomy import load_taxonomy


def config(*flags: str) -> RunConfig:
    return RunConfig.from_options(PipelineOptions(["--output", "x", *flags]))


def test_pipeline_batches_start_at_min_batch_size():
    handler = topic_handler(config("--batch-size", "32", "--min-batch-size", "16"), load_taxonomy())
    assert handler.batch_elements_kwargs() == {"min_batch_size": 16, "max_batch_size": 32}
    assert config("--batch-size", "4").inference.min_batch_size == 4  # never above the maximum


def test_default_backend_is_onnxruntime_int8():
    assert config().inference.backend == "onnxruntime-int8" == InferenceSettings().backend


def test_joined_conll_sentences_keep_every_gold_entity_at_its_shifted_offset():
    from pipeline.commands.eval.conll import Sentence, join_sentences

    a = Sentence(["Zelensky", "met", "Stoltenberg", "."], ["B-PER", "O", "B-PER", "O"])
    b = Sentence(["NATO", "Air", "Policing", "resumed"], ["B-ORG", "B-MISC", "I-MISC", "O"])
    (doc,) = join_sentences([a, b], 2)
    shift = len(a.text) + 1
    assert doc.text == a.text + " " + b.text
    assert doc.entities() == a.entities() | {(s + shift, e + shift, t) for s, e, t in b.entities()}
    assert join_sentences([a, b], 1) == [a, b]
