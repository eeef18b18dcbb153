"""Errors of the export toolchain."""


class ExportError(RuntimeError):
    """A conversion failed for a reason other than those below."""


class CalibrationError(ValueError):
    """Calibration data is missing or does not fit the model's signatures."""


class FlexOpsError(ExportError):
    """The model needs TensorFlow ops that TFLite has no builtin kernel for.

    Attributes:
        ops: `[(tf op, name scope)]` as the converter reported them.
        layers: `{tf op: [layer names]}`, the layers whose name scopes hold
            each op.
    """

    def __init__(self, ops, layer_names):
        self.ops = ops
        self.layers = {}
        for op, scope in ops:
            parts = scope.split("/")
            found = [
                name
                for name in layer_names
                if any(p == name or p.rsplit("_", 1)[0] == name for p in parts)
            ]
            self.layers.setdefault(op, [])
            for name in found or [scope]:
                if name not in self.layers[op]:
                    self.layers[op].append(name)
        listed = "; ".join(
            f"{op} in {', '.join(repr(n) for n in names)}"
            for op, names in self.layers.items()
        )
        super().__init__(
            f"the model needs TensorFlow ops that TFLite has no builtin kernel "
            f"for: {listed}. Flex (Select TF ops) is not enabled, since the "
            "LiteRT runtime on the device cannot run it: rewrite those layers "
            "with ops that have TFLite builtins (keras.ops arithmetic, matmul, "
            "softmax, gather, ...), or leave that computation out of the "
            "exported signature."
        )
