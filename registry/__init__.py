"""nnparts.registry: a self-hostable server that speaks the Hugging Face Hub API subset of
``HUB_PROTOCOL.md``. Imports only the standard library, starlette, uvicorn and nnparts.schemas."""

from nnparts.registry.app import create_app
from nnparts.registry.config import ServerConfig
from nnparts.registry.fs_storage import FilesystemStorage
from nnparts.registry.serve import serve
from nnparts.registry.storage import Storage

__all__ = ["FilesystemStorage", "ServerConfig", "Storage", "create_app", "serve"]
