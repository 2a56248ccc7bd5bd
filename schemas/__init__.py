"""nnparts.schemas: the contracts. Standard library and jsonschema only; no torch, no network."""
