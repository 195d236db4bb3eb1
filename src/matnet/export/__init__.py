"""Models out of matnet: an ONNX graph (``export_onnx``, ``to_onnx``) and dependency-free C99 inference
(``export_c``, ``c_sources``). This package imports only from below it (``nn``, ``fileio``); ``matnet export``
(``cli/export.py``) opens the model or run folder and calls it."""

from matnet.export.c_export import C_FILES, c_sources, export_c
from matnet.export.onnx_export import export_onnx, to_onnx

__all__ = ["C_FILES", "c_sources", "export_c", "export_onnx", "to_onnx"]
