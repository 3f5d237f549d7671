"""Architecture JSON files of the retriever registry (a package so that they ship as package data).

Each file may carry a ``"recipe"`` (``retrieval.config.RecipeConfig``): the training recipe ``adsearch
train-retriever`` uses unless its options override it. The recipes of the tiny configs were measured on the default
synthetic catalog (1,049 train clips, test gallery of 256 clips): with ``tiny`` (112x64, conv stem), 6 epochs gave
test reference R@1 21.9 and 12 epochs 34.8 at lr 5e-4; lr 2.5e-4 / 1e-3 / 2e-3 did no better than 5e-4 (6 epochs at
144x80). ``tiny-crop`` with this recipe reached 23.4-30.9 across runs. ``tiny`` from scratch (``make demo
--from-scratch``), 2026-11-29: bf16 autocast on CPU makes a step ~1.9x faster at the same recall (12 epochs:
reference R@1 35.5 / R@10 91.0), so the same budget buys 24 epochs: R@1 45.3 / R@10 94.5 (docs/experiments.md).
"""
