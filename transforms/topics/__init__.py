"""Zero-shot topics: the taxonomy, and the embedding and NLI topic models that score it.

taxonomy    the topics (YAML), their thresholds and calibrations
passages    an article as the passages the models read; alias regexes
encoder     sentence embeddings (mean pooling) and fine-tuned encoder layers
exemplars   labelled exemplar passages, and the files a taxonomy references
scoring     features -> calibrated probability per topic -> TopicResult (both models)
embedding   the embedding topic model and its handler
nli         the NLI topic model and its handler
handler     the topic handlers' base (Beam RunInference)
result      TopicResult
keywords    the keyword baseline of eval-topics
"""
