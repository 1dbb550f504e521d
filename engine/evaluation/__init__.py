"""Evaluation: one service for every "is this model better?" question.

- ``texts``: the text a perplexity is measured on (a file, a dataset split, a collection's
  documents, or Python's reference documentation) and the rows of a dataset split;
- ``perplexity``: any library model on a text, GGUF through llama.cpp, folders and adapters
  through transformers, in windows with an optional sliding stride;
- ``metrics``: exact match, token F1, BLEU, chrF, ROUGE and embedding similarity per row, and
  their aggregates with bootstrap confidence intervals;
- ``generation``: batched greedy answers of a model to a split's prompts;
- ``tasks``: the ``eval.run`` job (answers, then metrics; resumable) and its stored results;
- ``choice``: multiple choice by log-likelihood, as lm-evaluation-harness scores it.
"""
