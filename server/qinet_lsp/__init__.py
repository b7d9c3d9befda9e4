"""qinet-lsp: a Language Server hosting the byte-level QINetMNLP language model."""

__version__ = "0.1.0"
