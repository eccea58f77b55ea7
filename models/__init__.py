"""Models shipped with the project (standard Hugging Face model directories, each with a model card)."""
