"""The model runtime shared by NER and topics: settings, loading, the ONNX Runtime engine, the folder
cache, batching, article threads and the base ModelHandler. No Beam step lives here."""
