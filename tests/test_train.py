import json
import subprocess
import sys

import numpy as np
import pytest

from instemb import InstembError
from instemb.train import data as tdata

pytest.importorskip("datasets")

VERBS = ["write", "summarize", "translate", "classify"]
NOUNS = ["poem", "article", "sentence", "review"]


def synthetic_examples():
    out = []
    for v in VERBS:
        for n in NOUNS:
            for k in range(3):
                out.append(tdata.Example(f"{v} the {n} number {k} about topic {v}{n}{k}", f"{v}|{n}",
                                         tdata.ieb_key_related(f"{v}|{n}")))
    return out


def test_clean_drops_test_rows_duplicates_and_rare_categories():
    ex = synthetic_examples() + [tdata.Example("Write a poem number 0", "rare|thing"),
                                 tdata.Example("WRITE the poem number 0 about topic writepoem0", "write|poem")]
    kept, stats = tdata.clean(ex, exclude={tdata.normalize("write the poem number 1 about topic writepoem1")},
                              min_count=2)
    assert stats["dropped_in_ieb_test"] == 1
    assert "rare|thing" not in {e.task for e in kept}
    assert len(kept) == len(ex) - 3  # test row, duplicate (case/space-insensitive), rare category
    with pytest.raises(InstembError, match="two task categories"):
        tdata.clean([tdata.Example(f"x {i}", "a|b") for i in range(5)], set())


def test_triplets_positive_same_task_hard_negative_shares_verb_or_noun():
    ex = synthetic_examples()
    task_of = {e.text: e.task for e in ex}
    trip = tdata.triplets(ex, seed=0, hard_negatives=True)
    assert len(trip) == len(ex)
    for t in trip:
        assert task_of[t["positive"]] == t["anchor_task"] and t["positive"] != t["anchor"]
        a_verb, a_noun = t["anchor_task"].split("|")
        n_verb, n_noun = task_of[t["negative"]].split("|")
        assert (a_verb == n_verb) != (a_noun == n_noun)  # one shared, not both
    assert tdata.triplets(ex, seed=0) == trip  # seeded


def test_merge_synonyms_turns_synonym_verbs_into_one_category():
    pytest.importorskip("nltk")
    ex = [tdata.Example(f"{v} a poem about topic {i}", f"{v}|poem", tdata.ieb_key_related(f"{v}|poem"))
          for v in ("compose", "write", "summarize") for i in range(3)]
    ex += [tdata.Example(f"write a story about topic {i}", "write|story", tdata.ieb_key_related("write|story"))
           for i in range(3)]
    merged, n_merged = tdata.merge_synonym_tasks(ex)
    assert n_merged == 1
    assert {e.task for e in merged} == {"compose|poem##write|poem", "summarize|poem", "write|story"}
    task_of = {e.text: e.task for e in merged}
    for t in tdata.triplets(merged, seed=0):
        assert task_of[t["negative"]] != t["anchor_task"]
        if t["anchor_task"] == "compose|poem##write|poem":  # a synonym is never its hard negative
            assert task_of[t["negative"]] in {"summarize|poem", "write|story"}


def test_sampler_never_repeats_text_or_task():
    from datasets import Dataset

    from instemb.train.sampler import DistinctTaskBatchSampler

    ex = synthetic_examples()
    trip = tdata.triplets(ex, seed=1)
    ds = Dataset.from_dict({c: [t[c] for t in trip] for c in ("anchor", "positive", "negative")})
    category_of = {e.text: e.task for e in ex}
    sampler = DistinctTaskBatchSampler(ds, batch_size=4, drop_last=True, category_of=category_of)
    batches = list(sampler)
    assert batches and all(len(b) == 4 for b in batches)
    for b in batches:
        tasks = [category_of[trip[i][c]] for i in b for c in ("anchor", "negative")]
        assert len(set(tasks)) == len(tasks)


def test_train_end_to_end_on_a_tiny_model(tmp_path, tiny_bert, tokenizer, caplog):
    import instemb
    from instemb.train.recipe import TrainConfig, train

    base = tmp_path / "tiny"
    tiny_bert.save_pretrained(base)
    tokenizer.save_pretrained(base)
    out = tmp_path / "trained"
    config = TrainConfig(base=str(base), batch_size=4, max_steps=2, prompt="pie", seed=0, bf16=True)
    record = train(config, synthetic_examples(), out, progress=False)
    assert record["steps"] == 2 and np.isfinite(record["train_loss"])
    assert (out / "model.safetensors").exists() and (out / "instemb_train.json").exists()
    from safetensors.torch import load_file

    assert {str(v.dtype) for v in load_file(str(out / "model.safetensors")).values()} == {"torch.float16"}
    assert (out / "README.md").exists()  # sentence-transformers' model card, its usage example run cleanly:
    assert not [r for r in caplog.records if "usage snippet" in r.getMessage()]
    emb = instemb.load(str(out), prompt="pie", dtype="float32")
    vecs = emb.encode(["Write a poem", "Sort a list"])
    assert vecs.shape == (2, 32)
    before = instemb.from_model(tiny_bert, tokenizer, prompt="pie").encode(["Write a poem", "Sort a list"])
    assert not np.allclose(vecs, before, atol=1e-4)  # training changed the weights


def test_keep_targets_are_the_base_vectors_of_the_plain_texts(tmp_path, tiny_bert, tokenizer):
    from sentence_transformers import SentenceTransformer

    from instemb.prompts import get_prompt
    from instemb.train.recipe import keep_targets

    tiny_bert.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model = SentenceTransformer(str(tmp_path), device="cpu")
    inputs, targets = keep_targets(model, ["Write a poem about the sea", "Sort this list"],
                                   get_prompt("pie-short"), max_tokens=3)
    assert inputs == ['This sentence of "Write a poem" means:', 'This sentence of "Sort this list" means:']
    plain = model.encode(["Write a poem", "Sort this list"])
    assert np.allclose(targets, plain, atol=1e-6)  # the unprompted base vectors, not the prompted ones
    assert not np.allclose(targets, model.encode(inputs), atol=1e-3)


def test_train_command_refuses_unlabelled_data(tmp_path, ieb_dir):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "Write a poem"}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "instemb.cli", "train", "--data", str(src), "-o",
                           str(tmp_path / "m"), "--ieb-dir", str(ieb_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no row has a 'task' field" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_train_command_reads_several_data_files(tmp_path, ieb_dir):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"instruction": "Write a poem", "task": "write|poem"}) + "\n")
    second.write_text("")
    proc = subprocess.run([sys.executable, "-m", "instemb.cli", "train", "--data", str(first), "--data",
                           str(second), "-o", str(tmp_path / "m"), "--ieb-dir", str(ieb_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and str(second) in proc.stderr  # each file is checked
    assert len(proc.stderr.strip().splitlines()) == 1


def test_keep_neighbours_loss_ignores_rotations_and_sees_changed_neighbours():
    import torch

    from instemb.train.losses import KeepNeighboursLoss

    class Fixed(torch.nn.Module):  # "model" whose sentence embedding is its input
        def forward(self, features):
            return {"sentence_embedding": features["x"]}

    base = torch.nn.functional.normalize(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1)))
    loss = KeepNeighboursLoss(Fixed(), temperature=0.05)
    assert loss([{"x": base}], base).item() == pytest.approx(0.0, abs=1e-5)
    assert loss([{"x": base @ rotation}], base).item() == pytest.approx(0.0, abs=1e-4)
    # the same vectors given to other texts: other neighbours; the loss sees it, its gradient mends it
    shuffled = base[torch.randperm(16, generator=torch.Generator().manual_seed(2))]
    moved = shuffled.clone().requires_grad_(True)
    value = loss([{"x": moved}], base)
    assert value.item() > 0.5
    value.backward()
    assert loss([{"x": moved - 0.1 * moved.grad}], base).item() < value.item()


def test_unknown_keep_loss_is_refused_before_any_work(tmp_path):
    from instemb.train.recipe import TrainConfig, train

    with pytest.raises(InstembError, match="unknown keep loss 'mse'"):
        train(TrainConfig(keep_loss="mse"), synthetic_examples(), tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()


def test_lora_training_changes_only_query_and_value_and_saves_a_plain_model(tmp_path, tiny_bert, tokenizer):
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    import instemb
    from instemb.train.recipe import TrainConfig, train

    base = tmp_path / "tiny"
    tiny_bert.save_pretrained(base)
    tokenizer.save_pretrained(base)
    out = tmp_path / "lora"
    config = TrainConfig(base=str(base), batch_size=4, max_steps=3, learning_rate=1e-2, lora_rank=4, seed=0)
    record = train(config, synthetic_examples(), out, progress=False)
    assert record["steps"] == 3 and record["lora_trainable_parameters"] > 0
    assert not list(out.rglob("adapter*"))  # adapters merged: a plain sentence-transformers folder
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    layer = "encoder.layer.0.attention.self"
    key = next(k for k in after if k.endswith(f"{layer}.query.weight"))
    prefix = key[: -len(f"{layer}.query.weight")]
    for name, changed in (("query", True), ("value", True), ("key", False)):
        old = before[f"{layer}.{name}.weight"].float()
        new = after[f"{prefix}{layer}.{name}.weight"].float()
        assert changed != bool(np.allclose(old.numpy(), new.numpy(), atol=1e-3)), name
    assert instemb.load(str(out), dtype="float32").encode(["Write a poem"]).shape == (1, 32)


def _weights_folder(folder, seed: int, hidden: int = 8):
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    g = torch.Generator().manual_seed(seed)
    weights = {"w": torch.randn(hidden, 4, generator=g), "steps": torch.tensor([seed])}
    if seed == 3:  # the base: an extra buffer the fine-tuned runs do not save
        weights["position_ids"] = torch.arange(4)
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    return folder


def test_soup_averages_runs_and_blends_towards_the_base(tmp_path):
    from safetensors.torch import load_file

    from instemb.train.average import average_weights

    a, b, base = (_weights_folder(tmp_path / n, s) for n, s in (("a", 1), ("b", 2), ("base", 3)))
    wa, wb, w0 = (load_file(str(f / "model.safetensors"))["w"] for f in (a, b, base))
    soup = load_file(str(average_weights([a, b], tmp_path / "soup") / "model.safetensors"))
    assert np.allclose(soup["w"].float().numpy(), ((wa + wb) / 2).numpy(), atol=2e-3)
    assert soup["steps"].tolist() == [1]  # integer tensors are copied from the first run, not averaged
    blend = load_file(str(average_weights([a, b], tmp_path / "blend", alpha=0.25, base=str(base)) / "model.safetensors"))
    assert np.allclose(blend["w"].float().numpy(), (0.25 * (wa + wb) / 2 + 0.75 * w0).numpy(), atol=2e-3)
    assert json.loads((tmp_path / "blend" / "instemb_average.json").read_text())["alpha"] == 0.25
    assert (tmp_path / "blend" / "config.json").exists() and not list(tmp_path.glob(".*.tmp"))


def test_soup_refuses_runs_that_do_not_fit_together(tmp_path):
    from instemb.train.average import average_weights

    a, wide = _weights_folder(tmp_path / "a", 1), _weights_folder(tmp_path / "wide", 2, hidden=16)
    with pytest.raises(InstembError, match="do not match"):
        average_weights([a, wide], tmp_path / "out")
    with pytest.raises(InstembError, match="alpha must be in"):
        average_weights([a], tmp_path / "out", alpha=0.0)
    with pytest.raises(InstembError, match="no model.safetensors"):
        average_weights([a, tmp_path], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    proc = subprocess.run([sys.executable, "-m", "instemb.cli", "soup", str(a), str(tmp_path / "missing"),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "missing: no model.safetensors" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_math_train_split_mixes_in_by_type_and_is_asked_for_when_missing(tmp_path):
    with pytest.raises(InstembError, match="--mix math needs MATH's train split"):
        tdata.mixed_examples(["math"], tmp_path, per_set=10)
    (tmp_path / "math").mkdir()
    rows = [{"problem": f"Problem {i}", "type": t} for i, t in enumerate(["Algebra", "Geometry", "Algebra"])]
    (tmp_path / "math/train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mixed = tdata.mixed_examples(["math"], tmp_path, per_set=10)
    assert sorted(e.task for e in mixed) == ["math/Algebra", "math/Algebra", "math/Geometry"]
    assert all(e.related == ("math-problem",) for e in mixed)  # the other types are its hard negatives
