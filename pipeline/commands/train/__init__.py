"""Offline training: the NER model, topic exemplars and calibration."""
