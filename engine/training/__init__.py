"""Fine-tuning: LoRA, DoRA, QLoRA and full fine-tuning of library models, and what comes after.

    config       TrainOptions: every hyperparameter with its help text, range and choices (the
                 GUI form and the CLI flags are generated from it), presets quick/balanced/thorough
    planner      peak-memory estimate before a run: weights, adapters, optimizer state,
                 activations; fits / warn / refuse, with what to change
    data         dataset rows -> chat template -> token ids with prompt tokens masked; length
                 limits, packing and length bucketing; the deterministic batch order
    modeling     loading the base model for a method (QLoRA in 4 bits on CUDA), LoRA/DoRA set-up,
                 target modules detected per architecture
    loss         fused linear + cross-entropy: logits only for answer tokens, a chunk at a time
    checkpoint   atomic checkpoints (safetensors + JSON): adapter, optimizer, RNG, position
    trainer      LoraTrainer: the training loop (resume, NaN/explosion guard, OOM message, evals,
                 sample generations)
    evaluate     perplexity before/after, base and tuned answers side by side
    merge        adapter merged into the base weights, saved as a safetensors folder
    export_gguf  adapter as a GGUF LoRA, merged model as GGUF f16/q8_0 with the chat template
    launch       checking a request (options, model, data, memory) and creating its run
    runs         the run registry under ``<root>/runs/<run id>/`` (config, metrics, artifacts)
    jobs         the job kinds (train.lora, train.eval, train.merge, train.export)
    methods      the ``train.*`` JSON-RPC methods

Nothing here imports torch, transformers, peft, numpy or gguf at module level.
"""
