"""news-ingest: a Beam pipeline that turns raw news articles into NER- and topic-enriched Avro records."""

__version__ = "0.2.0"
