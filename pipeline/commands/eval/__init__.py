"""Offline evaluation through the pipeline: NER on CoNLL-style data, topics against gold labels."""
