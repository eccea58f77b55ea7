"""Offline evaluation through the pipeline: NER on CoNLL-style data, topics against gold labels; the
datasets (conll, labelled_topics) and metrics (ner_metrics, topic_metrics) they read and score with,
which training selects its models by as well (train imports eval, never the other way)."""
