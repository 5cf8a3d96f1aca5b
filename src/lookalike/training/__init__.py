"""Training on the user's own images: the report's autoencoders (``trainer``, ``data``)
and the runs a collection keeps (``runs``). Imports stay lazy: PyTorch loads only when a
trainer is built."""
