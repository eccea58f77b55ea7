"""Zero-shot topics: the taxonomy, and the embedding and NLI topic models that score it."""
