"""PointDistiller's local distillation loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmkd.registry import MODELS
from .graph import gather_items, local_graph, to_items

Record = Union[Tensor, Sequence[Tensor]]


@MODELS.register_module()
class PointDistillerLoss(nn.Module):
    """Local (kNN graph) distillation of PointDistiller.

    The items are the voxels/pillars (features (M, C), the batch pooled),
    points ((B, C, P)) or cells of a dense map ((B, C, H, W)). The N most
    important items are the centres; their K nearest neighbours in the
    teacher's feature space (squared Euclidean, the centre included) give
    the edges, and the same indices gather the student's items. Each side's
    edge features :math:`[x_j, x_i]` go through its own adapter
    :math:`\\phi` (1x1 Conv + BN + ReLU to C' channels):

    .. math::
        w = N \\cdot \\mathrm{softmax}(s / \\tau), \\qquad
        L = \\lambda \\cdot \\mathrm{mean}_{n, c, k}\\,
        w_n \\big(\\phi_t(E^t)_{c,n,k} - \\phi_s(E^s)_{c,n,k}\\big)^2

    with :math:`s` the importance of the N centres. ``pool='max'`` takes
    the maximum over K before the difference (the official point-based
    variant). Both adapters are trained with the student and live in this
    module (saved under ``distill_state``, not in the student's checkpoint).

    Reference: `PointDistiller: Structured Knowledge Distillation Towards
    Efficient and Compact 3D Detection <https://arxiv.org/abs/2205.11098>`_
    (CVPR 2023).

    Args:
        student_channels (int): C of the student items (filled in by
            DistillModel).
        teacher_channels (int): C of the teacher items (filled in too).
        num_items (int): N centres (clamped to the items available).
            Defaults to 6000 (PointPillars).
        num_neighbors (int): K (clamped likewise). Defaults to 128.
        tau (float, optional): Temperature of the weights; None gives
            uniform weights (w = 1). Defaults to 0.01 (PointPillars).
        out_channels (int): C' of the adapters. Defaults to 32.
        importance (str): ``'num_points'``: the points per voxel, the second
            entry of the teacher record (spec ``['voxel_encoder',
            'voxel_encoder:input[1]']``); ``'teacher_max'``: the maximum
            over channels of the teacher feature. Defaults to 'num_points'.
        pool (str): ``'none'`` (every edge, voxel/dense) or ``'max'`` (over
            K, point-based). Defaults to 'none'.
        chunk_elements (int): Largest block of the kNN distance matrix.
        loss_weight (float): :math:`\\lambda`. Defaults to 2.0.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 num_items: int = 6000,
                 num_neighbors: int = 128,
                 tau: Optional[float] = 0.01,
                 out_channels: int = 32,
                 importance: str = 'num_points',
                 pool: str = 'none',
                 chunk_elements: int = 2**25,
                 loss_weight: float = 2.0) -> None:
        super().__init__()
        if importance not in ('num_points', 'teacher_max'):
            raise ValueError("importance must be 'num_points' or "
                             f"'teacher_max', got {importance!r}.")
        if pool not in ('none', 'max'):
            raise ValueError(f"pool must be 'none' or 'max', got {pool!r}.")
        if student_channels is None or teacher_channels is None:
            raise ValueError('PointDistillerLoss needs student_channels and '
                             'teacher_channels.')
        self.num_items = num_items
        self.num_neighbors = num_neighbors
        self.tau = tau
        self.importance = importance
        self.pool = pool
        self.chunk_elements = chunk_elements
        self.loss_weight = loss_weight
        self.teacher_adapter = self._adapter(2 * teacher_channels,
                                             out_channels)
        self.student_adapter = self._adapter(2 * student_channels,
                                             out_channels)

    @staticmethod
    def _adapter(in_channels: int, out_channels: int) -> ConvModule:
        adapter = ConvModule(in_channels, out_channels, 1,
                             norm_cfg=dict(type='BN2d'))
        adapter.init_weights()
        return adapter

    @staticmethod
    def _adapt(adapter: ConvModule, items: Tensor, centers: Tensor,
               neighbors: Tensor) -> Tensor:
        """``adapter(edge_features(items, centers, neighbors))``, (B, C',
        N, K), without building the (B, 2C, N, K) edge features: the 1x1
        conv of ``[x_j, x_i]`` is ``W_j x_j + W_i x_i``, so each item is
        projected once (M x C') and the projections are gathered, which
        saves the conv over N * K edges and the 2C-channel edge tensor."""
        conv = adapter.conv
        channels = items.shape[-1]
        weight = conv.weight.flatten(1)  # (C', 2C): [W_j, W_i]
        proj_j = items @ weight[:, :channels].t()  # (B, M, C')
        proj_i = gather_items(items, centers) @ weight[:, channels:].t()
        out = gather_items(proj_j, neighbors) + proj_i.unsqueeze(2)
        if conv.bias is not None:
            out = out + conv.bias
        out = out.permute(0, 3, 1, 2)  # (B, C', N, K)
        if adapter.with_norm:
            out = adapter.norm(out)
        if adapter.with_activation:
            out = adapter.activate(out)
        return out

    def _split(self, student: Record,
               teacher: Record) -> Tuple[Tensor, Tensor, Tensor]:
        """Student and teacher items (B, M, C) and the importance (B, M)."""
        extra = None
        if not isinstance(teacher, Tensor):
            teacher, extra = teacher[0], teacher[1]
        if not isinstance(student, Tensor):
            student = student[0]
        s_items, t_items = to_items(student), to_items(teacher.detach())
        if s_items.shape[:2] != t_items.shape[:2]:
            raise ValueError(
                f'student {tuple(student.shape)} and teacher '
                f'{tuple(teacher.shape)} differ in their items (B, M): the '
                'teacher must see the student\'s voxelization (the same '
                'data_preprocessor settings).')
        if self.importance == 'num_points':
            if extra is None:
                raise ValueError(
                    "importance='num_points' needs the point counts with the "
                    "teacher feature: teacher=['voxel_encoder', "
                    "'voxel_encoder:input[1]'].")
            score = extra.reshape(t_items.shape[:2])
        else:
            score = t_items.amax(dim=-1)
        return s_items, t_items, score.detach().float()

    def forward(self, student: Record, teacher: Record, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor | tuple): Student features (M, C_s),
                (B, C_s, P) or (B, C_s, H, W), or a tuple led by them.
            teacher (Tensor | tuple): Teacher features of the same items,
                or ``(features, num_points)``.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        s_items, t_items, score = self._split(student, teacher)
        centers, neighbors = local_graph(t_items, score, self.num_items,
                                         self.num_neighbors,
                                         self.chunk_elements)
        with torch.autocast(s_items.device.type, enabled=False):
            a_t = self._adapt(self.teacher_adapter, t_items.float(), centers,
                              neighbors)
            a_s = self._adapt(self.student_adapter, s_items.float(), centers,
                              neighbors)
            if self.pool == 'max':
                a_t, a_s = a_t.amax(dim=-1), a_s.amax(dim=-1)
            sel = score.gather(1, centers)  # (B, N)
            weight = torch.ones_like(sel) if self.tau is None else \
                torch.softmax(sel / self.tau, dim=-1) * sel.shape[-1]
            weight = weight[:, None, :, None] if a_t.dim() == 4 \
                else weight[:, None]  # over (B, C', N[, K])
            loss = (weight * (a_t - a_s).pow(2)).mean()
        return self.loss_weight * loss
