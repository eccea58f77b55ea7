"""Named-entity recognition: windows of tokens in, entity spans out, and the ModelHandler that runs it."""
