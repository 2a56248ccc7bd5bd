"""nnparts subpackage."""
