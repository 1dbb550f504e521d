"""Structured pruning: make a model smaller by removing MLP neurons (width), whole blocks
(depth) or attention computation (bypass, static or adaptive), measured against the original and
recoverable by distillation.

    arch        where each architecture keeps the parts a pruner touches; re-indexing
    calibrate   calibration and held-out text as token windows
    width       neuron scores (activation-aware and static), pair pruning, least-squares refit
    depth       block influence and perplexity criteria, llama.cpp's Gemma 3 pattern
    attention   attention scores, bypass, the adaptive table
    bypass      skipping bypassed attention at run time (transformers runtime)
    measure     calibration passes, perplexity, tokens/s, greedy answers
    request     a pruning request, checked; what the wizard offers
    pipeline    preview and run: load, calibrate, score, cut, measure, save, register
    runs        pruning run records (beside training runs)
    recover     distillation from the parent as a training run
    evaluate    perplexity of any library model (llama.cpp or transformers)
    export      GGUF export of any Hugging Face model in the library
    jobs, methods   job kinds and JSON-RPC methods

Everything heavy (torch, transformers) is imported inside functions.
"""
