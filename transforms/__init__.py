"""Composable PTransforms and ModelHandlers of the news-ingest pipeline."""
