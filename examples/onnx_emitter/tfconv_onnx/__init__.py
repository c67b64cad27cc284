"""tfconv-onnx: an emitter plugin that writes tfconv's IR graph as an ONNX model (``--target onnx``)."""
