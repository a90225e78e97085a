import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from impls.pytorch.modes import SpecNet
from impls.spec import EXAMPLES, MODELS, WORKSHOP, Conv2d, Dropout, Linear, get_model


def test_workshop_layers_match_the_seed():
    convs = [(c.cin, c.cout, c.kernel) for c in WORKSHOP.layers if isinstance(c, Conv2d)]
    fcs = [(f.fin, f.fout) for f in WORKSHOP.layers if isinstance(f, Linear)]
    assert convs == [(1, 10, 5), (10, 20, 5)]
    assert fcs == [(320, 50), (50, 10)]
    assert [d for d in WORKSHOP.layers if isinstance(d, Dropout)] == [Dropout(0.5, True)]
    assert WORKSHOP.flatten_input_shape() == (20, 4, 4)


def test_examples_layers_match_pytorch_examples():
    convs = [(c.cin, c.cout, c.kernel) for c in EXAMPLES.layers if isinstance(c, Conv2d)]
    fcs = [(f.fin, f.fout) for f in EXAMPLES.layers if isinstance(f, Linear)]
    assert convs == [(1, 32, 3), (32, 64, 3)]
    assert fcs == [(9216, 128), (128, 10)]
    assert [d.rate for d in EXAMPLES.layers if isinstance(d, Dropout)] == [0.25, 0.5]
    assert EXAMPLES.flatten_input_shape() == (64, 12, 12)


@pytest.mark.parametrize("name", list(MODELS))
def test_flops_match_torch_flop_counter(name):
    spec = get_model(name)
    net = SpecNet(spec, dropout=False)
    x = torch.zeros(4, *spec.input_shape)
    with FlopCounterMode(display=False) as fwd:
        with torch.no_grad():
            net(x, False)
    assert fwd.get_total_flops() == 4 * spec.forward_flops()
    with FlopCounterMode(display=False) as step:
        net(x, True).sum().backward()
    assert step.get_total_flops() == 4 * spec.train_flops()


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*workshop, examples"):
        get_model("resnet")
