"""Options shared by several ``chunkwise`` commands, and the ingest options as one decorator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from chunkwise.connectors.unstructured_parser import DEFAULT_MAX_SECONDS
from chunkwise.flows.settings import DEFAULT_COLLECTION, DEFAULT_STORE, IngestOptions
from chunkwise.pipeline.errors import ConfigurationError

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Folder of an embedded store, a Qdrant URL, or local:FOLDER for qdrant-client's local mode. "
        f"[env CHUNKWISE_STORE; default {DEFAULT_STORE}]",
    ),
]
CollectionOption = Annotated[
    str | None,
    typer.Option(
        "--collection", help=f"Collection name. [env CHUNKWISE_COLLECTION; default {DEFAULT_COLLECTION}]"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
ModelOption = Annotated[str, typer.Option(help="sentence-transformers model name or folder.")]
MaxSentencesOption = Annotated[
    int | None, typer.Option(help="sentence chunker: at most this many sentences per chunk.")
]
SentenceOverlapOption = Annotated[
    int, typer.Option(help="sentence chunker: sentences shared by consecutive chunks.")
]
SparseModelOption = Annotated[
    str | None,
    typer.Option(
        "--sparse-model",
        help="Learned sparse weights (SPLADE) from this sentence-transformers SparseEncoder name or "
        "folder instead of BM25 terms [default: BM25].",
    ),
]
MultivectorModelOption = Annotated[
    str | None,
    typer.Option(
        "--multivector-model",
        help="Also store each chunk's token vectors from this ColBERT-style model (name or folder: "
        "PyLate/sentence-transformers or ColBERT layout), searched by MaxSim [default: none].",
    ),
]
MultivectorPoolOption = Annotated[
    int,
    typer.Option(
        "--multivector-pool-factor",
        min=1,
        help="Store the mean of each run of F adjacent token vectors (F times fewer).",
    ),
]
MultivectorMaxTokensOption = Annotated[
    int | None,
    typer.Option(
        "--multivector-max-tokens",
        min=1,
        help="Store at most N token vectors per chunk (adjacent ones merged) [default: no cap].",
    ),
]
TrustOption = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code", help="Let a model that ships its own code (jina, nomic, ...) run it."
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        help="Runs the model: torch; onnx (ONNX Runtime on the CPU, exported once and cached, same "
        "vectors); onnx-int8 (int8 weights: other vectors, recorded in the collection's fingerprint)."
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        help="Runs the model on: auto (CUDA, else MPS, else the CPU), cpu, cuda, cuda:N or mps; not "
        "recorded in the collection (vectors are the same on every device)."
    ),
]
PrecisionOption = Annotated[
    str,
    typer.Option(
        help="auto (fp16 on CUDA, fp32 elsewhere), fp32 or fp16 (GPU only: vectors within cosine 0.999 "
        "of fp32's); not recorded in the collection."
    ),
]
DimensionsOption = Annotated[
    int | None,
    typer.Option(
        help="Cut every vector to its first N components, renormalised (Matryoshka models); recorded "
        "in the collection [default: the model's dimension]."
    ),
]
QueryPromptOption = Annotated[
    str | None,
    typer.Option(
        help="Text put before every query, instead of the model's query prompt ('' for none); ingest "
        "records it in the collection, whose queries then get it."
    ),
]
DocumentPromptOption = Annotated[
    str | None,
    typer.Option(
        help="Text put before every document or chunk embedded, instead of the model's document prompt "
        "('' for none); recorded in the collection."
    ),
]
DEFAULTS = IngestOptions()
MODEL_DECIDES = ("chunking", "chunk_size", "chunk_overlap", "late_mix", "headers")
MODEL_DEFAULT = "[default: the model's measured default; see the README's table]"


def _ingest_option_parameters(
    chunking: Annotated[
        str | None,
        typer.Option(
            help="late: pool chunks from whole-document token vectors; fixed: embed each chunk alone. "
            f"{MODEL_DEFAULT}"
        ),
    ] = None,
    chunker: Annotated[
        str, typer.Option(help="token: windows of tokens; sentence: whole sentences up to the chunk size.")
    ] = DEFAULTS.chunker,
    chunk_size: Annotated[int | None, typer.Option(help=f"Tokens per chunk at most. {MODEL_DEFAULT}")] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(help=f"token chunker: tokens shared by consecutive chunks. {MODEL_DEFAULT}")
    ] = None,
    max_sentences: MaxSentencesOption = None,
    sentence_overlap: SentenceOverlapOption = DEFAULTS.sentence_overlap,
    tokenizer: Annotated[
        str, typer.Option(help="Counts chunk sizes: tiktoken (cl100k_base), tiktoken:<encoding>, or model.")
    ] = DEFAULTS.tokenizer,
    boundaries: Annotated[
        str, typer.Option(help="Cut between words, prefer element ends, or never cross sections.")
    ] = DEFAULTS.boundaries,
    model: ModelOption = DEFAULTS.model,
    trust_remote_code: TrustOption = False,
    backend: BackendOption = DEFAULTS.backend,
    device: DeviceOption = DEFAULTS.device,
    precision: PrecisionOption = DEFAULTS.precision,
    dimensions: DimensionsOption = None,
    query_prompt: QueryPromptOption = None,
    document_prompt: DocumentPromptOption = None,
    late_window: Annotated[
        int | None,
        typer.Option(
            help="late: tokens per model pass, specials included [default: the model's, 256 MiniLM]."
        ),
    ] = None,
    late_overlap: Annotated[
        int, typer.Option(help="late: context tokens shared by consecutive windows.")
    ] = DEFAULTS.late_overlap,
    late_mix: Annotated[
        float | None,
        typer.Option(
            help="late: mix in each chunk's vector alone, normalise(A*late + (1-A)*alone), A in [0, 1]; "
            f"1: late only. {MODEL_DEFAULT}"
        ),
    ] = None,
    headers: Annotated[
        bool | None,
        typer.Option(
            "--headers/--no-headers",
            help="Embed each chunk under its document title and section (stored text unchanged). "
            f"{MODEL_DEFAULT}",
        ),
    ] = None,
    alone_vector: Annotated[
        bool,
        typer.Option(
            "--alone-vector/--no-alone-vector",
            help="late: also store each chunk's vector alone (named 'alone'); dense and hybrid search "
            "fuse its ranking with the late vectors' (and BM25's).",
        ),
    ] = False,
    include: Annotated[
        list[str] | None, typer.Option(help="Glob of files to take from folders (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Glob of files to leave out (repeatable).")
    ] = None,
    max_bytes: Annotated[
        int, typer.Option(help="Files larger than this fail with an error.")
    ] = DEFAULTS.max_bytes,
    max_unpacked_bytes: Annotated[
        int,
        typer.Option(help="Zip-based files (docx, ...) that unpack to more than this fail with an error."),
    ] = DEFAULTS.max_unpacked_bytes,
    max_text_chars: Annotated[
        int, typer.Option(help="Documents whose text is longer than this fail with an error.")
    ] = DEFAULTS.max_text_chars,
    max_seconds_per_document: Annotated[
        float,
        typer.Option(
            help="Documents whose parsing takes longer than this many seconds fail with an error "
            "(each is parsed in a child process that is stopped); 0: no limit, parsed in this process.",
            min=0,
        ),
    ] = DEFAULT_MAX_SECONDS,
    ref: Annotated[
        str | None,
        typer.Option(
            help="git: read repositories at this branch, tag or commit; makes a local repository path "
            "a git source [default: HEAD]."
        ),
    ] = None,
    allow_private_network: Annotated[
        bool,
        typer.Option(
            "--allow-private-network",
            help="web: fetch pages on loopback, private and link-local addresses (refused by default).",
        ),
    ] = False,
    max_pages: Annotated[int, typer.Option(min=1, help="web: list at most this many pages.")] = (
        DEFAULTS.max_pages
    ),
    max_depth: Annotated[
        int, typer.Option(min=0, help="web: follow links at most this many hops from the start URL.")
    ] = DEFAULTS.max_depth,
    max_crawl_seconds: Annotated[
        float, typer.Option(help="web: stop listing pages after this many seconds (nothing is pruned then).")
    ] = DEFAULTS.max_crawl_seconds,
    prune: Annotated[
        bool,
        typer.Option(help="Delete stored documents under the given paths that are no longer there."),
    ] = False,
    prune_force: Annotated[
        bool,
        typer.Option(
            "--prune-force",
            help="Prune even when the paths list no document, or when more than half of theirs would go.",
        ),
    ] = False,
    reindex: Annotated[
        bool,
        typer.Option(help="Rebuild every document, also to change the collection's chunking options."),
    ] = False,
    sparse: Annotated[
        bool,
        typer.Option("--sparse/--no-sparse", help="Store BM25 term weights for keyword and hybrid search."),
    ] = DEFAULTS.sparse,
    sparse_model: SparseModelOption = None,
    multivector_model: MultivectorModelOption = None,
    multivector_pool_factor: MultivectorPoolOption = 1,
    multivector_max_tokens: MultivectorMaxTokensOption = None,
    quantization: Annotated[
        str | None,
        typer.Option(
            help="A new collection keeps its vectors also quantized in memory, searched first and "
            "rescored on the originals: scalar (int8, 4x smaller) or binary (32x) [default: none]."
        ),
    ] = None,
) -> None:
    """Only its signature is used: the ingest options as command-line options."""


INGEST_PARAMETERS = list(inspect.signature(_ingest_option_parameters, eval_str=True).parameters.values())


def with_ingest_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` every ingest option (``--chunking``, ``--chunk-size``, ...); it receives them
    validated, as one :class:`IngestOptions` in its ``options`` parameter.

    Example::

        @app.command()
        @with_ingest_options
        def ingest(paths: list[str], options: IngestOptions) -> None: ...
    """
    signature = inspect.signature(command, eval_str=True)
    own = [parameter for name, parameter in signature.parameters.items() if name != "options"]
    names = [parameter.name for parameter in INGEST_PARAMETERS]

    @functools.wraps(command)
    def with_options(**values: Any) -> Any:
        chosen = {name: values.pop(name) for name in names}
        chosen["include"] = tuple(chosen["include"]) if chosen["include"] else DEFAULTS.include
        chosen["exclude"] = tuple(chosen["exclude"] or ())
        for name in MODEL_DECIDES:  # left out: the model's measured default
            if chosen[name] is None:
                del chosen[name]
        return command(**values, options=validated_options(**chosen))

    parameters = own + INGEST_PARAMETERS
    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options


def validated_options(**values: Any) -> IngestOptions:
    """``IngestOptions(**values)``, its validation errors as one :class:`ConfigurationError`."""
    try:
        return IngestOptions(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(problems) from error
