"""What the KD doctor puts back after it measured a model: the random
generators' states, the buffers (BatchNorm statistics) and every module's
train/eval flag."""
import torch
import torch.nn as nn

from mmkd.utils.rng_state import get_rng_state, set_rng_state


class SavedState:
    """RNG states, buffers and module train flags of a model, put back by
    :meth:`restore`."""

    def __init__(self, model: nn.Module) -> None:
        self.rng = get_rng_state()
        self.buffers = [(b, b.detach().clone()) for b in model.buffers()]
        self.modes = [(m, m.training) for m in model.modules()]

    def restore(self) -> None:
        with torch.no_grad():
            for buffer, value in self.buffers:
                buffer.copy_(value)
        for module, mode in self.modes:
            module.training = mode
        set_rng_state(self.rng)
