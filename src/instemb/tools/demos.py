"""Demonstration retrieval: for each query, the k most similar pool rows, and a few-shot prompt.

Similarity is cosine (embeddings are L2-normalised, so a dot product). Prompts use the Alpaca
template, one full block per demonstration, then the query's block with an empty response.
"""

from __future__ import annotations

import numpy as np

from instemb.tools import index

PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input that "
                  "provides further context. Write a response that appropriately completes the request.")
PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def retrieve(queries: np.ndarray, pool: np.ndarray, k: int, exclude_self: bool = False,
             batch: int = 1024, engine: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Indices (nq, k) of the k most similar pool rows per query, best first, and their cosines.

    ``exclude_self``: queries are the pool itself (leave-one-out); row i never retrieves row i.
    Exact search either way: numpy for small pools, FAISS brute force from
    ``index.FAISS_MIN_ROWS`` pool rows on (``engine``: "auto", "sklearn" (numpy) or "faiss").
    Shapes and k are checked by :func:`instemb.tools.index.knn`."""
    sims, idx = index.knn(queries, pool, k, exclude_self=exclude_self, engine=engine, batch=batch)
    return idx, sims


def split_input(instruction: str, inp: str | None) -> str:
    """The input proper: IEB rows repeat the instruction at the start of ``input``; drop it."""
    inp = "" if inp is None else str(inp).strip()
    ins = instruction.strip()
    if ins and inp.startswith(ins):
        inp = inp[len(ins):].strip()
    return inp


def alpaca_block(instruction: str, inp: str | None = None, output: str | None = None) -> str:
    """One Alpaca-template block; ``output=None`` leaves the response open for the model."""
    inp = split_input(instruction, inp)
    head = PREAMBLE_INPUT if inp else PREAMBLE
    text = f"{head}\n\n### Instruction:\n{instruction.strip()}\n\n"
    if inp:
        text += f"### Input:\n{inp}\n\n"
    text += "### Response:\n"
    if output is not None:
        text += str(output).strip()
    return text


def fewshot_prompt(query: dict, demos: list[dict], instruction: str = "instruction",
                   input: str = "input", output: str = "output") -> str:
    """Demonstration blocks (with their responses) then the query block, blank-line separated."""
    blocks = [alpaca_block(d[instruction], d.get(input), d.get(output, "")) for d in demos]
    blocks.append(alpaca_block(query[instruction], query.get(input)))
    return "\n\n".join(blocks)


def task_match(query_labels, pool_labels, idx: np.ndarray) -> float:
    """Share of retrieved demonstrations whose label equals their query's."""
    pool_labels = np.asarray(pool_labels, dtype=object)
    q = np.asarray(query_labels, dtype=object)[:, None]
    return float((pool_labels[idx] == q).mean())
