"""Every exception chunkwise raises on purpose.

::

    ChunkwiseError
    ├── ConfigurationError          a bad option value, raised at construction
    ├── DocumentError               one document failed; the run goes on
    │   ├── SourceError             it could not be read (missing, unreadable, too large)
    │   ├── ParseError              the parser could not make text of it (corrupt, binary, empty)
    │   ├── ChunkingError           no valid chunk could be cut from it
    │   └── EncodingError           the encoder refused a chunk (e.g. longer than its input limit)
    ├── EncoderError                the encoder cannot do what is asked (no token embeddings, ...)
    └── StoreError                  the vector store failed; the run stops
        ├── StoreInUseError         an embedded store is already opened by another process
        ├── StoreUnavailableError   the store could not be reached after retries
        └── FingerprintMismatchError the collection was built by another pipeline

A ``DocumentError`` ends up in the run report next to its source and stage; a ``StoreError``
ends the run, leaving what was already written in place.
"""

from __future__ import annotations


class ChunkwiseError(Exception):
    """Base class of every error chunkwise raises on purpose."""


class ConfigurationError(ChunkwiseError, ValueError):
    """An option has a value outside its allowed set."""


class DocumentError(ChunkwiseError):
    """One document failed; other documents are not affected."""


class SourceError(DocumentError):
    """A document could not be read from its source."""


class ParseError(DocumentError):
    """A document could not be turned into text."""


class ChunkingError(DocumentError):
    """A document could not be cut into chunks."""


class EncodingError(DocumentError):
    """The encoder refused a document's chunks."""


class PruneRefusedError(ChunkwiseError):
    """A prune would delete what looks like a whole folder gone missing; nothing was deleted."""


class EncoderError(ChunkwiseError):
    """The encoder cannot perform the requested operation."""


class StoreError(ChunkwiseError):
    """The vector store failed."""


class StoreInUseError(StoreError):
    """An embedded store is already opened by another client or process."""


class StoreUnavailableError(StoreError):
    """The store could not be reached, even after retries."""


class FingerprintMismatchError(StoreError):
    """A collection was built with another model, dimension or chunking configuration."""
