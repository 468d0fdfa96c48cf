"""icframework: Python canisters, a bundled IC replica and reference dapps on Django."""

__version__ = "0.1.0"
