"""Graph-level settings: model batch sizes; CoNLL sentences joined into articles for eval-ner --group."""
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.graph import min_batch, topic_handler
from pipeline.options import NewsIngestOptions
from transforms.taxonomy import load_taxonomy


def test_pipeline_batches_start_at_min_batch_size():
    opts = PipelineOptions(["--output", "x", "--batch-size", "32", "--min-batch-size", "16"]).view_as(NewsIngestOptions)
    assert topic_handler(opts, load_taxonomy()).batch_elements_kwargs() == {"min_batch_size": 16, "max_batch_size": 32}
    small = PipelineOptions(["--output", "x", "--batch-size", "4"]).view_as(NewsIngestOptions)
    assert min_batch(small) == 4  # never above the maximum


def test_joined_conll_sentences_keep_every_gold_entity_at_its_shifted_offset():
    from pipeline.commands.conll import Sentence, join_sentences

    a = Sentence(["Zelensky", "met", "Stoltenberg", "."], ["B-PER", "O", "B-PER", "O"])
    b = Sentence(["NATO", "Air", "Policing", "resumed"], ["B-ORG", "B-MISC", "I-MISC", "O"])
    (doc,) = join_sentences([a, b], 2)
    shift = len(a.text) + 1
    assert doc.text == a.text + " " + b.text
    assert doc.entities() == a.entities() | {(s + shift, e + shift, t) for s, e, t in b.entities()}
    assert join_sentences([a, b], 1) == [a, b]
