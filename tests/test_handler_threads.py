"""--model-threads reaches torch through every model handler, not only through the NER handler."""

import subprocess
import sys

from conftest import ROOT

CHECK = """
import torch
from transforms.topics.taxonomy import load_taxonomy
from transforms.topics.embedding import EmbeddingTopicModelHandler
before = torch.get_num_threads()
from transforms.inference.settings import InferenceSettings
EmbeddingTopicModelHandler(load_taxonomy(None), settings=InferenceSettings(backend='torch', model_threads=1)).load_model()
print(before, torch.get_num_threads())
"""


def test_topic_handler_alone_sets_torch_threads():
    # a fresh process: torch's thread count is process-wide, and other tests may have set it
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = map(int, out.stdout.split())
    assert after == 1, f"threads {before} -> {after}"
