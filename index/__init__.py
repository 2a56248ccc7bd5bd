"""nnparts.index: where modules live. Registries behind one ABC; no torch, no huggingface_hub here."""

from nnparts.index._open import default_home, open_index
from nnparts.index.base import IndexBackend
from nnparts.index.local import DirectoryIndex

__all__ = ["DirectoryIndex", "IndexBackend", "default_home", "open_index"]
