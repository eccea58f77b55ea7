"""Offline training: the NER model, topic exemplars, encoder tuning and calibration."""
