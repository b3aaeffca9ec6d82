"""ONNX export: ``chainrule.onnx.export(model, example_input, path)`` (the ``onnx`` extra).

The model is walked module by module while ``example_input`` runs through it in eval
mode (dropout off, batch norm on its running statistics), so every layer's input shape
is known; each layer becomes ONNX operators of opset 17, with the batch axis left
dynamic. A layer with no converter is refused by name. Custom modules add theirs with
``register_converter``. See ``chainrule.onnx.convert`` for how each layer maps.
"""

from chainrule.onnx.convert import OPSET, export, register_converter

__all__ = ["OPSET", "export", "register_converter"]
