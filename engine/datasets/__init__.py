"""Datasets: import, convert, inspect, clean, deduplicate, generate, split and export training data.

    rowstore     rows on disk: append-only JSONL segments, one offset index (+ token counts) per
                 version, so a million-row dataset pages lazily and a filter writes only an index
    library      datasets and their versions in ``hearth.db``; paging, search, edits, undo
    formats      alpaca / sharegpt / messages / preference / text: detection with confidence,
                 column mappings, conversion between formats
    readers      JSONL, JSON, CSV, Parquet, saved Hugging Face datasets, plain text, Hearth chats;
                 encodings, malformed lines with their line numbers
    importer     reading a source into a new dataset (the ``data.import`` job)
    tokens       token counts (a model's tokenizer, else an estimate) and chat-template previews
    clean        length / regex / empty-field filters, exact dedup, PII scrub, contamination check
    minhash      near-duplicate detection: MinHash signatures and LSH banding, vectorised numpy
    split        train / validation / test splits, seeded, optionally stratified
    stats        token-length and role statistics, matplotlib (Agg) plots as PNG files
    export       JSONL in any format or Parquet, with a dataset card (README.md)
    generate     question/answer pairs from a document collection; self-instruct expansion
    sources      where generation reads document chunks from
    methods      the ``data.*`` JSON-RPC methods; ``jobs`` the job kinds behind the long ones

Nothing here imports numpy, pyarrow or matplotlib at module level: they load inside the functions
that need them, so the engine starts light.
"""
