"""RKD: relational knowledge distillation (distance- and angle-wise)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


def _embeddings(x: Tensor, with_l2_norm: bool) -> Tensor:
    x = x.float().flatten(1)
    return F.normalize(x, p=2, dim=1) if with_l2_norm else x


def _check(student: Tensor, teacher: Tensor, name: str) -> None:
    if student.dim() < 2 or student.shape[0] != teacher.shape[0] \
            or student.shape[0] < 2:
        raise ValueError(f'{name} expects (N, ...) embeddings with equal '
                         f'N >= 2, got student {tuple(student.shape)} and '
                         f'teacher {tuple(teacher.shape)}')


def pairwise_distance(x: Tensor, eps: float = 1e-12) -> Tensor:
    """(N, D) -> (N, N) Euclidean distances; squared distances are clamped
    at ``eps`` before the square root (a finite gradient), the diagonal is
    0."""
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.t()).clamp(min=eps)
    off_diagonal = 1 - torch.eye(len(x), dtype=x.dtype, device=x.device)
    return d2.sqrt() * off_diagonal


def triplet_cosines(x: Tensor) -> Tensor:
    """(N, D) -> (N, N, N): entry [j, i, k] is the cosine of the angle at
    :math:`x_j` between :math:`x_i - x_j` and :math:`x_k - x_j` (0 where a
    difference vanishes)."""
    diff = F.normalize(x[None, :, :] - x[:, None, :], p=2, dim=2)
    return diff @ diff.transpose(1, 2)


@MODELS.register_module()
class DistanceWiseRKD(nn.Module):
    """Distance-wise relational KD (Park et al., CVPR 2019).

    For embeddings :math:`t_i` (flattened, L2-normalised with
    ``with_l2_norm``), :math:`\\psi_D(t_i, t_j) = \\|t_i - t_j\\|_2 / \\mu`,
    :math:`\\mu` the mean distance over the pairs i != j, and

    .. math::
        L = \\frac{1}{N^2} \\sum_{i, j} l_\\delta\\big(\\psi_D(t_i, t_j),
        \\psi_D(s_i, s_j)\\big)

    with the Huber loss :math:`l_\\delta` (:math:`\\delta = 1`, i.e.
    ``smooth_l1_loss``), averaged over all N x N entries (the diagonal is 0
    for both), as in the authors' code and MMRazor. The embedding sizes of
    student and teacher may differ (``connector='auto'`` builds none).

    Reference: `Relational Knowledge Distillation
    <https://arxiv.org/abs/1904.05068>`_.

    Args:
        loss_weight (float): Weight of the loss (the paper's
            :math:`\\lambda_{RKD-D}`). Defaults to 25.0.
        with_l2_norm (bool): L2-normalise the embeddings first. Defaults to
            True.
    """

    channel_agnostic = True

    def __init__(self, loss_weight: float = 25.0,
                 with_l2_norm: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.with_l2_norm = with_l2_norm

    @staticmethod
    def potential(x: Tensor) -> Tensor:
        d = pairwise_distance(x)
        return d / d[d > 0].mean()

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student embeddings (N, ...).
            teacher (Tensor): Teacher embeddings (N, ...).

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        _check(student, teacher, 'DistanceWiseRKD')
        d_s = self.potential(_embeddings(student, self.with_l2_norm))
        with torch.no_grad():
            d_t = self.potential(_embeddings(teacher, self.with_l2_norm))
        return self.loss_weight * F.smooth_l1_loss(d_s, d_t)


@MODELS.register_module()
class AngleWiseRKD(nn.Module):
    """Angle-wise relational KD (Park et al., CVPR 2019).

    :math:`\\psi_A(t_i, t_j, t_k) = \\langle e^{ij}, e^{kj} \\rangle`,
    :math:`e^{ij} = \\frac{t_i - t_j}{\\|t_i - t_j\\|_2}`, and

    .. math::
        L = \\frac{1}{N^3} \\sum_{i, j, k} l_\\delta\\big(\\psi_A(t_i, t_j,
        t_k), \\psi_A(s_i, s_j, s_k)\\big)

    with the Huber loss (:math:`\\delta = 1`), averaged over all N^3
    triplets (those with a repeated index contribute 0 for both models), as
    in the authors' code and MMRazor. Memory grows as N^2 D + N^3.

    Reference: `Relational Knowledge Distillation
    <https://arxiv.org/abs/1904.05068>`_.

    Args:
        loss_weight (float): Weight of the loss (the paper's
            :math:`\\lambda_{RKD-A}`). Defaults to 50.0.
        with_l2_norm (bool): L2-normalise the embeddings first. Defaults to
            True.
    """

    channel_agnostic = True

    def __init__(self, loss_weight: float = 50.0,
                 with_l2_norm: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.with_l2_norm = with_l2_norm

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student embeddings (N, ...).
            teacher (Tensor): Teacher embeddings (N, ...).

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        _check(student, teacher, 'AngleWiseRKD')
        a_s = triplet_cosines(_embeddings(student, self.with_l2_norm))
        with torch.no_grad():
            a_t = triplet_cosines(_embeddings(teacher, self.with_l2_norm))
        return self.loss_weight * F.smooth_l1_loss(a_s, a_t)
