"""The model runtime shared by NER and topics: settings, loading, ONNX Runtime, threads, the base ModelHandler.
No Beam step lives here."""
