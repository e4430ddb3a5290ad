import numpy as np
import pytest

import instemb
from instemb import InstembError
from instemb.prompts import PIE, get_prompt

TEXTS = [
    "Outline the steps to bake bread",
    "Write a poem about apple pie.",
    "What is the capital of France?",
    "Translate the following sentence into German: I like trains, and I like them a lot.",
    "Sort these numbers",
]


def test_prompts():
    pie = get_prompt("pie")
    assert pie.template == PIE
    assert "\n\nWrite a poem.\n\n" in pie.format("Write a poem")
    assert "\n\nIs it?\n\n" in pie.format("Is it?")
    assert get_prompt("pie-short").format("x") == 'This sentence of "x" means:'
    assert get_prompt("none").format("Write a poem") == "Write a poem"
    assert get_prompt("Task: {instruction} =>").format("a") == "Task: a =>"
    with pytest.raises(InstembError):
        get_prompt("no slot here")


def test_encoder_shape_norm_and_order(tiny_bert, tokenizer):
    emb = instemb.from_model(tiny_bert, tokenizer, pooling="mean")
    out = emb.encode(TEXTS, batch_size=2)
    assert out.shape == (len(TEXTS), 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([emb.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(out, one_by_one, atol=1e-5)  # order restored after length sort


def test_poolings_differ_and_mean_instruction_ignores_prompt(tiny_bert, tokenizer):
    cls = instemb.from_model(tiny_bert, tokenizer, pooling="cls").encode(TEXTS)
    mean = instemb.from_model(tiny_bert, tokenizer, pooling="mean").encode(TEXTS)
    assert not np.allclose(cls, mean)
    inst = instemb.from_model(tiny_bert, tokenizer, pooling="mean-instruction", prompt="pie")
    ids, masks = inst._tokenize(["Sort these numbers"])
    tokens = [tokenizer.convert_ids_to_tokens(i) for i, m in zip(ids[0], masks[0]) if m]
    assert tokens == ["sort", "these", "numbers", "."]  # the period the pie prompt adds


def test_long_instruction_keeps_prompt_whole(tiny_llama, tokenizer):
    emb = instemb.from_model(tiny_llama, tokenizer, prompt="pie", max_length=64)
    ids, _ = emb._tokenize(["word " * 500])
    assert len(ids[0]) <= 64
    tail = tokenizer.decode(ids[0][-12:])
    assert tail.endswith("the task of the given instruction is : [SEP]")


def test_decoder_left_padding_matches_single(tiny_llama, tokenizer):
    emb = instemb.from_model(tiny_llama, tokenizer)
    assert emb.kind == "decoder" and emb.pooling == "last2"
    batch = emb.encode(TEXTS, batch_size=8)
    single = np.stack([emb.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-4)
    last = instemb.from_model(tiny_llama, tokenizer, pooling="last").encode(TEXTS)
    assert not np.allclose(batch, last)


@pytest.mark.parametrize("bad,message", [
    (["ok", ""], "instruction 1 is empty"),
    (["ok", 3], "instruction 1 is not a string"),
    ("a single string", "not a single string"),
])
def test_bad_instructions(tiny_bert, tokenizer, bad, message):
    emb = instemb.from_model(tiny_bert, tokenizer)
    with pytest.raises(InstembError, match=message):
        emb.encode(bad)


def test_pooling_must_fit_model(tiny_llama, tokenizer):
    with pytest.raises(InstembError, match="does not fit a decoder"):
        instemb.from_model(tiny_llama, tokenizer, pooling="cls")


def test_unknown_model_is_clear():
    with pytest.raises(InstembError, match="does not exist"):
        instemb.load("/no/such/folder")
    with pytest.raises(InstembError, match="unknown model"):
        instemb.load("no-such-org/no-such-model-xyz")
