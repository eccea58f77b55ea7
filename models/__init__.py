"""Models shipped with the project (standard Hugging Face model directories, each with a model card)."""
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
