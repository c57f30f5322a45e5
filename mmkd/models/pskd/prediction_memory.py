"""The per-sample memory of past predictions that PS-KD learns from."""
from typing import Any, Dict, List

import torch
import torch.nn as nn
from mmengine.dist import all_gather, get_world_size
from torch import Tensor


class PredictionMemory(nn.Module):
    """The last class distribution predicted for each training sample.

    A buffer ``predictions`` of shape (N, C), one row per dataset index
    (``sample_idx``), zero while the sample has not been seen (a written
    row is a softmax: it sums to 1). It is a buffer of the PS-KD loss, so
    the checkpoint holds it under ``distill_state`` and ``--resume``
    continues with it.

    N is not given: the memory grows to the largest index written so far
    (zero rows for the rest), so no dataset length has to be known when
    the loss is built; a checkpoint's memory is loaded at its own size.

    Under DDP every :meth:`write` all-gathers the indices and predictions
    of all ranks (one collective each), so that every rank holds the same
    memory, with the predictions of the samples the other ranks saw; every
    rank must therefore call it the same number of times with batches of
    the same size (mmengine's ``DefaultSampler`` gives each rank the same
    number of samples). An index that occurs twice in one write (the
    sampler's padding) keeps its last prediction, as the official loop
    does.
    """

    # not copied for DistillModel's NaN rollback (N x C every step)
    rollback = False

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer('predictions', torch.zeros(0, 0))

    def read(self, indices: Tensor, default: Tensor) -> Tensor:
        """The stored rows of ``indices``, and ``default``'s rows for the
        samples not seen yet.

        Args:
            indices (Tensor): Dataset indices, (B, ).
            default (Tensor): The rows for unseen samples, (B, C).

        Returns:
            Tensor: (B, C), detached.
        """
        memory = self.predictions
        indices = indices.to(memory.device)
        rows = torch.zeros_like(default)
        known = indices < memory.shape[0]
        if known.any():
            if memory.shape[1] != default.shape[1]:
                raise ValueError(
                    f'PredictionMemory holds {memory.shape[1]} classes, the '
                    f'model predicts {default.shape[1]}.')
            rows[known.to(rows.device)] = memory[indices[known]].to(rows)
        seen = rows.sum(1, keepdim=True) > 0
        return torch.where(seen, rows, default).detach()

    def write(self, indices: Tensor, probs: Tensor) -> None:
        """Store ``probs`` (B, C) as the predictions of ``indices`` (B, ),
        those of every rank under DDP; rows that are not finite are not
        stored."""
        probs = probs.detach().float()
        indices = indices.to(probs.device)
        if get_world_size() > 1:
            indices = torch.cat(all_gather(indices))
            probs = torch.cat(all_gather(probs))
        finite = torch.isfinite(probs).all(1)
        indices, probs = indices[finite], probs[finite]
        if not len(indices):
            return
        unique, inverse = torch.unique(indices, return_inverse=True)
        order = torch.arange(len(indices), device=indices.device)
        last = torch.zeros_like(unique).scatter_reduce(
            0, inverse, order, 'amax', include_self=False)
        self._grow(int(unique[-1]) + 1, probs.shape[1])
        self.predictions[unique] = probs[last].to(self.predictions.device)

    def _grow(self, rows: int, classes: int) -> None:
        memory = self.predictions
        if memory.numel() and memory.shape[1] != classes:
            raise ValueError(f'PredictionMemory holds {memory.shape[1]} '
                             f'classes, the model predicts {classes}.')
        if memory.shape[0] >= rows and memory.shape[1] == classes:
            return
        grown = memory.new_zeros(max(rows, memory.shape[0]), classes)
        if memory.numel():
            grown[:memory.shape[0]] = memory
        self.predictions = grown

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              local_metadata: dict, strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        """Take a saved memory at its own size (the memory grows)."""
        saved = state_dict.get(prefix + 'predictions')
        if isinstance(saved, Tensor) and saved.dim() == 2:
            self.predictions = self.predictions.new_zeros(saved.shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        return f'samples={self.predictions.shape[0]}, ' \
               f'classes={self.predictions.shape[1]}'
