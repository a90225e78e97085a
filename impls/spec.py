"""Framework-neutral model specs: the one description every mode and the oracle build from.

A model is a flat sequence of layers. Each framework walks the same sequence, so the
architectures cannot drift apart; shapes and FLOPs are derived here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Conv2d:
    name: str
    cin: int
    cout: int
    kernel: int  # square kernel, stride 1, no padding (both models)


@dataclass(frozen=True)
class MaxPool2d:
    kernel: int  # stride == kernel


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class Dropout:
    rate: float
    channelwise: bool = False  # Dropout2d: zero whole feature maps


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Linear:
    name: str
    fin: int
    fout: int


@dataclass(frozen=True)
class LogSoftmax:
    pass


Layer = Conv2d | MaxPool2d | ReLU | Dropout | Flatten | Linear | LogSoftmax


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: tuple[Layer, ...]
    input_shape: Shape = (1, 28, 28)  # canonical CHW
    classes: int = 10

    def shapes(self) -> list[Shape]:
        """Per-image activation shape after each layer (CHW or (features,)); checks the spec."""
        shape = self.input_shape
        out: list[Shape] = []
        for layer in self.layers:
            shape = _next_shape(layer, shape)
            out.append(shape)
        if out[-1] != (self.classes,):
            raise ValueError(f"{self.name}: spec ends in shape {out[-1]}, expected ({self.classes},)")
        return out

    def parameter_shapes(self) -> dict[str, Shape]:
        """Canonical (PyTorch-layout) name -> shape: conv OIHW, linear (out, in)."""
        shapes: dict[str, Shape] = {}
        for layer in self.layers:
            if isinstance(layer, Conv2d):
                shapes[f"{layer.name}.weight"] = (layer.cout, layer.cin, layer.kernel, layer.kernel)
                shapes[f"{layer.name}.bias"] = (layer.cout,)
            elif isinstance(layer, Linear):
                shapes[f"{layer.name}.weight"] = (layer.fout, layer.fin)
                shapes[f"{layer.name}.bias"] = (layer.fout,)
        return shapes

    def flatten_input_shape(self) -> Shape:
        """CHW shape entering Flatten: the layout the first dense layer's rows follow."""
        shape = self.input_shape
        for layer, after in zip(self.layers, self.shapes(), strict=True):
            if isinstance(layer, Flatten):
                return shape
            shape = after
        raise ValueError(f"{self.name}: spec has no Flatten layer")

    def first_dense_after_flatten(self) -> str:
        seen_flatten = False
        for layer in self.layers:
            seen_flatten = seen_flatten or isinstance(layer, Flatten)
            if seen_flatten and isinstance(layer, Linear):
                return layer.name
        raise ValueError(f"{self.name}: spec has no Linear layer after Flatten")

    def forward_flops(self) -> int:
        """FLOPs per image of one forward pass, counting 2 per multiply-add in conv and linear.

        Same convention as torch.utils.flop_counter (bias adds, pooling and activations are not
        counted): they are a rounding error next to the matmuls and no counter agrees on them.
        """
        return sum(_macs(layer, shape) for layer, shape in self._layers_with_output()) * 2

    def train_flops(self) -> int:
        """FLOPs per image of forward + backward: weight gradients for every layer, input
        gradients for every layer but the first (the input image needs no gradient)."""
        macs = [_macs(layer, shape) for layer, shape in self._layers_with_output()]
        weighted = [m for m in macs if m]
        return 2 * (sum(weighted) * 2 + sum(weighted[1:]))

    def _layers_with_output(self) -> list[tuple[Layer, Shape]]:
        return list(zip(self.layers, self.shapes(), strict=True))


def _next_shape(layer: Layer, shape: Shape) -> Shape:
    if isinstance(layer, Conv2d):
        c, h, w = shape
        if c != layer.cin:
            raise ValueError(f"{layer.name}: expects {layer.cin} channels, gets {c}")
        return (layer.cout, h - layer.kernel + 1, w - layer.kernel + 1)
    if isinstance(layer, MaxPool2d):
        c, h, w = shape
        return (c, h // layer.kernel, w // layer.kernel)
    if isinstance(layer, Flatten):
        size = 1
        for dim in shape:
            size *= dim
        return (size,)
    if isinstance(layer, Linear):
        if shape != (layer.fin,):
            raise ValueError(f"{layer.name}: expects ({layer.fin},) inputs, gets {shape}")
        return (layer.fout,)
    return shape


def _macs(layer: Layer, out_shape: Shape) -> int:
    if isinstance(layer, Conv2d):
        cout, h, w = out_shape
        return cout * h * w * layer.cin * layer.kernel * layer.kernel
    if isinstance(layer, Linear):
        return layer.fin * layer.fout
    return 0


WORKSHOP = ModelSpec(
    name="workshop",  # the seed's CNN (classic PyTorch MNIST example of 2017)
    layers=(
        Conv2d("conv1", 1, 10, 5),
        MaxPool2d(2),
        ReLU(),
        Conv2d("conv2", 10, 20, 5),
        Dropout(0.5, channelwise=True),
        MaxPool2d(2),
        ReLU(),
        Flatten(),
        Linear("fc1", 320, 50),
        ReLU(),
        Linear("fc2", 50, 10),
        LogSoftmax(),
    ),
)

EXAMPLES = ModelSpec(
    name="examples",  # pytorch/examples mnist/main.py Net
    layers=(
        Conv2d("conv1", 1, 32, 3),
        ReLU(),
        Conv2d("conv2", 32, 64, 3),
        ReLU(),
        MaxPool2d(2),
        Dropout(0.25),
        Flatten(),
        Linear("fc1", 9216, 128),
        ReLU(),
        Dropout(0.5),
        Linear("fc2", 128, 10),
        LogSoftmax(),
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (WORKSHOP, EXAMPLES)}


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}") from None


@dataclass(frozen=True)
class Recipe:
    """The workshop's training recipe, shared by every mode."""

    lr: float = 0.01
    momentum: float = 0.5
    batch: int = 64


RECIPE = Recipe()
