"""Documents (RAG): collections of files, their ingestion, hybrid retrieval and grounded answers.

    loaders/     files -> text blocks (PDF with pages, DOCX, PPTX, Markdown, HTML, TXT, CSV)
    splitter     blocks -> token-bounded chunks with character spans, heading paths and pages
    bm25         the sparse (keyword) side: tokenizer, term hashing, BM25 document weights
    embedder     the dense side: sentence-transformers models, loaded lazily
    store/       ``VectorStore``: an embedded Qdrant shard (qdrant-edge) or a Qdrant server
    catalog      collections, files and sources in ``hearth.db``
    ingest       the incremental, resumable ingestion job
    retrieval    hybrid search (RRF fusion), filters, threshold, MMR, semantic cache
    answer       grounded prompts with numbered sources (also for Chat's conversations with
                 collections attached); answers with citations
    evaluation   hit@k / MRR of hybrid, dense and BM25 retrieval on a QA file
    methods      the ``docs.*`` JSON-RPC methods

Nothing here imports numpy, torch or qdrant at module level except the modules that need them,
and ``methods``/``jobs`` import those lazily, so the engine starts light.
"""
