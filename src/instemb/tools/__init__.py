"""Downstream tools on instruction embeddings (the paper's section 5, plus a task map).

Each module works on arrays and rows, so it can be used and tested without a model:

* :mod:`~instemb.tools.select`    task-diverse data selection (k-means centroids, k-center greedy)
* :mod:`~instemb.tools.demos`     demonstration retrieval and few-shot Alpaca prompts
* :mod:`~instemb.tools.compress`  test-set compression with cluster-size weights
* :mod:`~instemb.tools.correlate` dataset task correlation (Wasserstein, max cosine)
* :mod:`~instemb.tools.taskmap`   a self-contained HTML task map

:mod:`~instemb.tools.commands` adds the matching ``instemb`` commands.
"""
