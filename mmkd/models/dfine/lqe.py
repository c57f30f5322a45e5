"""D-FINE's Localization Quality Estimator (LQE)."""
import torch
import torch.nn as nn
from torch import Tensor

__all__ = ['LQE']


class LQE(nn.Module):
    """D-FINE's Localization Quality Estimator.

    Per query, the softmax of each edge's ``N + 1`` logits gives its top-k
    probabilities and their mean; the ``4 * (k + 1)`` statistics go through
    an MLP (``num_layers`` linear layers, ReLU between) whose scalar output
    is added to every class logit. The last layer starts at zero, so the
    term is 0 at initialisation (the official ``LQE(4, 64, 2, reg_max)``).

    Args:
        num_bins (int): :math:`N`; each edge has ``N + 1`` bins.
        k (int): top-k probabilities per edge. Defaults to 4.
        hidden_dims (int): width of the hidden layers. Defaults to 64.
        num_layers (int): number of linear layers. Defaults to 2.
    """

    def __init__(self,
                 num_bins: int,
                 k: int = 4,
                 hidden_dims: int = 64,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.num_bins = num_bins
        self.k = k
        dims = [4 * (k + 1)] + [hidden_dims] * (num_layers - 1)
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], 1))
        self.reg_conf = nn.Sequential(*layers)
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the last layer (as the official code)."""
        nn.init.constant_(self.reg_conf[-1].weight, 0.)
        nn.init.constant_(self.reg_conf[-1].bias, 0.)

    def forward(self, scores: Tensor, corners: Tensor) -> Tensor:
        """Add the quality term.

        Args:
            scores (Tensor): class logits ``(..., C)``.
            corners (Tensor): edge logits ``(..., 4 * (N + 1))``.

        Returns:
            Tensor: ``scores`` plus the quality term ``(..., 1)``.
        """
        prob = corners.reshape(*corners.shape[:-1], 4,
                               self.num_bins + 1).softmax(-1)
        topk = prob.topk(self.k, dim=-1)[0]
        stat = torch.cat([topk, topk.mean(-1, keepdim=True)], -1)
        return scores + self.reg_conf(stat.flatten(-2))
