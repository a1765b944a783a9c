"""Build pipeline components from options: the one place that wires connectors together."""

from __future__ import annotations

from typing import Any

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.learned_sparse_encoder import LearnedSparseEncoder, build_sparse
from chunkwise.connectors.multivector_encoder import MULTIVECTOR_NAME, MultivectorEncoder
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.connectors.sources import SourceOptions, open_source
from chunkwise.connectors.stores import Store, open_existing_store, open_store
from chunkwise.connectors.tokenizers import TiktokenTokenizer
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.settings import IngestOptions, Settings
from chunkwise.pipeline.chunking.sentence_chunker import SentenceChunker
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.embedding import (
    DenseNamed,
    IndependentEmbedder,
    MixedEmbedder,
    NamedEmbedder,
    NamedVectorsEmbedder,
    as_embedder,
)
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.protocols import Tokenizer


def build_source(locations: list[str], options: IngestOptions) -> Any:
    """The source of ``locations``: local paths, ``s3://``, ``http(s)://`` and git (see
    :func:`connectors.sources.open_source`)."""
    return open_source(
        locations,
        SourceOptions(
            include=options.include,
            exclude=options.exclude,
            max_bytes=options.max_bytes,
            ref=options.ref,
            allow_private_network=options.allow_private_network,
            max_pages=options.max_pages,
            max_depth=options.max_depth,
            max_seconds=options.max_crawl_seconds,
        ),
    )


def build_parser(options: IngestOptions) -> UnstructuredParser:
    return UnstructuredParser(
        pdf_strategy=options.pdf_strategy,
        max_unpacked_bytes=options.max_unpacked_bytes,
        max_text_chars=options.max_text_chars,
        max_seconds=options.max_seconds_per_document,
    )


def build_encoder(
    model: str,
    trust_remote_code: bool = False,
    backend: str = "torch",
    device: str = "auto",
    precision: str = "auto",
) -> SentenceTransformerEncoder:
    """The encoder of ``model``; ``trust_remote_code`` lets models that ship their own code load;
    ``backend`` runs it with PyTorch (``torch``) or ONNX Runtime (``onnx``, ``onnx-int8``), on
    ``device`` at ``precision`` (see :mod:`connectors.devices`)."""
    return SentenceTransformerEncoder(
        model, trust_remote_code=trust_remote_code, backend=backend, device=device, precision=precision
    )


def encoder_for(options: IngestOptions) -> SentenceTransformerEncoder:
    """The encoder of ``options``: its model, backend, device, precision, Matryoshka ``dimensions``
    and prompts."""
    return SentenceTransformerEncoder(
        options.model,
        trust_remote_code=options.trust_remote_code,
        backend=options.backend,
        device=options.device,
        precision=options.precision,
        dimensions=options.dimensions,
        query_prompt=options.query_prompt,
        document_prompt=options.document_prompt,
    )


Embedder = (
    SentenceTransformerEncoder
    | LateChunkingEncoder
    | IndependentEmbedder
    | MixedEmbedder
    | NamedVectorsEmbedder
)
ALONE = "alone"  # the named vector of each chunk embedded alone, beside its late vector


def build_embedder(
    options: IngestOptions,
    encoder: SentenceTransformerEncoder | None = None,
    multivector: MultivectorEncoder | None = None,
) -> Embedder:
    """Each chunk embedded alone (``fixed``) or pooled from its document's token vectors (``late``).

    ``headers`` embeds chunks under their document title and section; ``late_mix`` mixes late
    vectors with those of each chunk alone; ``alone_vector`` stores the chunk-alone vectors beside
    the late ones (named ``alone``). ``encoder``, an already loaded encoder of ``options.model``,
    is reused instead of loading another. ``multivector_model`` stores each chunk's token vectors
    beside its vector (named ``multivector``, see :func:`build_multivector`); ``multivector``, an
    already loaded encoder of that model, lends it its model.
    """
    base = encoder or encoder_for(options)
    alone = IndependentEmbedder(base, headers=True) if options.headers else base
    multivector = build_multivector(options, multivector)
    if options.chunking == "fixed":
        if multivector is not None:
            return NamedVectorsEmbedder(as_embedder(alone), {MULTIVECTOR_NAME: multivector})
        return alone
    late = LateChunkingEncoder.from_encoder(
        base, window=options.late_window, overlap=options.late_overlap, headers=options.headers
    )
    main: Embedder = late
    if options.late_mix is not None and options.late_mix != 1:
        main = MixedEmbedder(late, as_embedder(alone), options.late_mix)
    named: dict[str, NamedEmbedder] = {ALONE: DenseNamed(as_embedder(alone))} if options.alone_vector else {}
    if multivector is not None:
        named[MULTIVECTOR_NAME] = multivector
    return NamedVectorsEmbedder(as_embedder(main), named) if named else main


def build_multivector(
    options: IngestOptions, loaded: MultivectorEncoder | None = None
) -> MultivectorEncoder | None:
    """The token vectors of ``options.multivector_model`` (late chunked, in the late windows, when
    ``chunking`` is late) on ``options.device`` at ``options.precision``, loaded now so that a model
    that does not load stops a run before any write; ``None`` without one. ``loaded``, an encoder
    of the same model and placement, lends its loaded model instead of loading it again.

    Example::

        colbert = build_multivector(IngestOptions(multivector_model="colbert-ir/colbertv2.0", device="cpu"))
        build_multivector(IngestOptions(multivector_model="colbert-ir/colbertv2.0", late_window=512), colbert)
    """
    if options.multivector_model is None:
        return None
    storage: dict[str, Any] = {
        "pool_factor": options.multivector_pool_factor,
        "max_tokens": options.multivector_max_tokens,
        "late": options.chunking == "late",
        "window": options.late_window,
        "overlap": options.late_overlap,
    }
    if loaded is not None:
        if loaded.model_name != options.multivector_model:
            raise ConfigurationError(
                f"the loaded multivector model is {loaded.model_name}, not {options.multivector_model}"
            )
        return loaded.share(**storage)
    encoder = MultivectorEncoder(
        options.multivector_model, device=options.device, precision=options.precision, **storage
    )
    _ = encoder.reader
    return encoder


def late_window(embedder: Embedder) -> int | None:
    """The window of the late-chunking part of ``embedder``, if it has one."""
    main = embedder.main if isinstance(embedder, NamedVectorsEmbedder) else embedder
    late = main.late if isinstance(main, MixedEmbedder) else main
    return late.window if isinstance(late, LateChunkingEncoder) else None


def build_chunker(options: IngestOptions, encoder: Embedder) -> TokenChunker | SentenceChunker:
    """A token or sentence chunker; with ``fixed`` embedding its chunks always fit the encoder's input."""
    tokenizer: Tokenizer
    if options.tokenizer == "model":
        tokenizer = encoder.tokenizer
    else:
        _, _, encoding = options.tokenizer.partition(":")
        tokenizer = TiktokenTokenizer(encoding or "cl100k_base")
    embeds_alone = options.chunking == "fixed" or options.late_mix not in (None, 1) or options.alone_vector
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens) if embeds_alone else None
    if options.chunker == "sentence":
        if options.boundaries == "words":
            raise ConfigurationError("the sentence chunker needs boundaries elements or sections")
        return SentenceChunker(
            tokenizer,
            chunk_size=options.chunk_size,
            max_sentences=options.max_sentences,
            overlap_sentences=options.sentence_overlap,
            boundaries=options.boundaries,
            limit=limit,
        )
    return TokenChunker(
        tokenizer,
        chunk_size=options.chunk_size,
        chunk_overlap=options.chunk_overlap,
        boundaries=options.boundaries,
        limit=limit,
    )


def build_sparse_encoder(options: IngestOptions) -> Bm25Encoder | LearnedSparseEncoder | None:
    """Term weights for keyword and hybrid search, unless ``options.sparse`` is off: BM25, or the
    learned sparse model ``options.sparse_model`` (placed by ``options.device`` and ``precision``)."""
    if not options.sparse:
        return None
    return build_sparse(options.sparse_model, options.device, options.precision)


def build_store(
    location: str | None = None,
    settings: Settings | None = None,
    *,
    existing: bool = False,
    quantization: str | None = None,
    oversampling: float | None = None,
) -> Store:
    """The store at ``location`` (or ``CHUNKWISE_STORE``), with ``QDRANT_API_KEY`` for a server.

    ``existing``: a folder that holds no store is an error instead of a new, empty store.
    ``quantization``: how the collections it creates quantize their vectors (``scalar``, ``binary``).
    ``oversampling``: how many quantized candidates per hit its searches rescore.
    """
    settings = settings or Settings()
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    opener = open_existing_store if existing else open_store
    options: dict[str, Any] = {"quantization": quantization} if quantization else {}
    if oversampling is not None:
        options["oversampling"] = oversampling
    return opener(location or settings.store, api_key=api_key, **options)
