"""Hungarian matching of the D-FINE heads' prediction sets (decoder layers,
:math:`b^0`) and their matched (image, query, gt) rows with the targets, the
rows that :func:`~.union_matching.union_set_matching_flat` pools."""
from typing import Dict, List, Tuple

import torch
from mmdet.models.task_modules import HungarianAssigner
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ['Matches', 'FDRMatchingMixin']

Matches = List[Tuple[Tensor, Tensor]]  # per image: (query inds, gt inds)


class FDRMatchingMixin:
    """Matching of a D-FINE head (reads the head's ``assigner``).

    Matched rows are dicts of equal-length tensors: ``b`` image, ``q``
    query (``l`` set and ``g`` gt where known) and the targets ``xyxy``,
    ``cxcywh`` (normalised), ``labels`` and ``factors`` (image size).
    """

    @torch.no_grad()
    def _hungarian(self, cls_scores: Tensor, bbox_preds: Tensor,
                   batch_gt_instances: InstanceList,
                   batch_img_metas: List[dict]) -> Matches:
        """The assigner's matches of one prediction set ``(bs, nq, C)`` /
        ``(bs, nq, 4)``, per image."""
        matches = []
        for cls, boxes, gt, meta in zip(cls_scores, bbox_preds,
                                        batch_gt_instances, batch_img_metas):
            img_h, img_w = meta['img_shape']
            factor = boxes.new_tensor([img_w, img_h, img_w, img_h]).float()
            pred = InstanceData(
                scores=cls.float(),
                bboxes=bbox_cxcywh_to_xyxy(boxes.float()) * factor)
            result = self.assigner.assign(
                pred_instances=pred, gt_instances=gt, img_meta=meta)
            q = torch.nonzero(result.gt_inds > 0, as_tuple=False).reshape(-1)
            matches.append((q, (result.gt_inds[q] - 1).long()))
        return matches

    @torch.no_grad()
    def _hungarian_sets(self, cls_sets: Tensor, box_sets: Tensor,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> List[Matches]:
        """:meth:`_hungarian` of ``S`` stacked prediction sets (decoder
        layers, :math:`b^0`) ``(S, bs, nq, C)`` / ``(S, bs, nq, 4)``.

        mmdet's match costs are per query, so with its
        :class:`HungarianAssigner` they are computed once per image for the
        queries of all sets, and only the assignment runs per set (the same
        costs, hence the same matches). Other assigners run per set.
        """
        if type(self.assigner) is not HungarianAssigner:
            return [
                self._hungarian(c, b, batch_gt_instances, batch_img_metas)
                for c, b in zip(cls_sets, box_sets)
            ]
        from scipy.optimize import linear_sum_assignment
        num_sets, _, nq = cls_sets.shape[:3]
        per_set = [[] for _ in range(num_sets)]
        for i, (gt, meta) in enumerate(zip(batch_gt_instances,
                                           batch_img_metas)):
            device = gt.labels.device
            if len(gt.labels) == 0:
                empty = torch.zeros(0, dtype=torch.long, device=device)
                for matches in per_set:
                    matches.append((empty, empty))
                continue
            img_h, img_w = meta['img_shape']
            factor = box_sets.new_tensor([img_w, img_h, img_w, img_h]).float()
            pred = InstanceData(
                scores=cls_sets[:, i].reshape(num_sets * nq, -1).float(),
                bboxes=bbox_cxcywh_to_xyxy(box_sets[:, i].reshape(
                    num_sets * nq, 4).float()) * factor)
            cost = torch.stack([
                match_cost(
                    pred_instances=pred, gt_instances=gt, img_meta=meta)
                for match_cost in self.assigner.match_costs
            ]).sum(0)
            cost = cost.detach().cpu().reshape(num_sets, nq, -1).numpy()
            for matches, c in zip(per_set, cost):
                q, g = linear_sum_assignment(c)
                matches.append((torch.from_numpy(q).to(device),
                                torch.from_numpy(g).to(device)))
        return per_set

    @staticmethod
    def _gather(matches: Matches, batch_gt_instances: InstanceList,
                batch_img_metas: List[dict], device) -> Dict[str, Tensor]:
        """Batch indices, query indices, normalised (cx, cy, w, h) targets,
        xyxy targets, labels and image-size factors of the matched pairs."""
        b, q, tgt, labels, factors = [], [], [], [], []
        for i, ((qi, gi), gt, meta) in enumerate(
                zip(matches, batch_gt_instances, batch_img_metas)):
            img_h, img_w = meta['img_shape']
            factor = torch.tensor([img_w, img_h, img_w, img_h],
                                  dtype=torch.float32,
                                  device=device)
            gi = gi.to(device)
            boxes = gt.bboxes[gi].float().to(device) / factor
            b.append(torch.full_like(qi.to(device), i))
            q.append(qi.to(device))
            tgt.append(boxes)
            labels.append(gt.labels[gi].to(device))
            factors.append(factor.expand(len(gi), 4))
        xyxy = torch.cat(tgt)
        cxcywh = torch.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2,
                              (xyxy[:, 1] + xyxy[:, 3]) / 2,
                              xyxy[:, 2] - xyxy[:, 0],
                              xyxy[:, 3] - xyxy[:, 1]], -1)
        return dict(
            b=torch.cat(b).long(),
            q=torch.cat(q).long(),
            xyxy=xyxy,
            cxcywh=cxcywh,
            labels=torch.cat(labels).long(),
            factors=torch.cat(factors))

    @staticmethod
    def _rows(match_sets: List[Matches], batch_gt_instances: InstanceList,
              batch_img_metas: List[dict],
              device) -> Tuple[Dict[str, Tensor], List[int]]:
        """The matched pairs of several match sets (one per decoder layer,
        say) as one set of rows, set-major, then image-major.

        Returns:
            tuple: the rows (``l`` set, ``b`` image, ``q`` query and the
            targets of :meth:`_gather`) and the number of rows of each set.
        """
        num_imgs = len(batch_img_metas)
        pieces = [m for matches in match_sets for m in matches]
        lengths = [qi.numel() for qi, _ in pieces]
        counts = [
            sum(lengths[i * num_imgs:(i + 1) * num_imgs])
            for i in range(len(match_sets))
        ]
        piece = torch.repeat_interleave(
            torch.arange(len(pieces), device=device),
            torch.tensor(lengths, device=device),
            output_size=sum(lengths))
        q = torch.cat([qi.reshape(-1) for qi, _ in pieces]).to(device).long()
        g = torch.cat([gi.reshape(-1) for _, gi in pieces]).to(device).long()
        rows = FDRMatchingMixin._targets(piece % num_imgs, q, g,
                                     batch_gt_instances, batch_img_metas,
                                     device)
        rows['l'] = piece // num_imgs
        return rows, counts

    @staticmethod
    def _targets(b: Tensor, q: Tensor, g: Tensor,
                 batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                 device) -> Dict[str, Tensor]:
        """Targets of (image, query, gt) rows, as :meth:`_gather`'s."""
        factors = torch.tensor(
            [[m['img_shape'][1], m['img_shape'][0]] * 2
             for m in batch_img_metas],
            dtype=torch.float32,
            device=device)
        starts, n = [], 0
        for gt in batch_gt_instances:
            starts.append(n)
            n += len(gt.labels)
        idx = torch.tensor(starts, dtype=torch.long, device=device)[b] + g
        gt_boxes = torch.cat([gt.bboxes.float()
                              for gt in batch_gt_instances]).to(device)
        gt_labels = torch.cat([gt.labels
                               for gt in batch_gt_instances]).to(device)
        factor = factors[b]
        xyxy = gt_boxes[idx] / factor
        cxcywh = torch.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2,
                              (xyxy[:, 1] + xyxy[:, 3]) / 2,
                              xyxy[:, 2] - xyxy[:, 0],
                              xyxy[:, 3] - xyxy[:, 1]], -1)
        return dict(
            b=b,
            q=q,
            g=g,
            xyxy=xyxy,
            cxcywh=cxcywh,
            labels=gt_labels[idx].long(),
            factors=factor)

    @staticmethod
    def _repeat_rows(rows: Dict[str, Tensor],
                     times: int) -> Dict[str, Tensor]:
        """The same rows for ``times`` sets (``l`` = 0 .. times - 1)."""
        n = rows['b'].numel()
        out = {
            k: v.repeat(times, *([1] * (v.dim() - 1)))
            for k, v in rows.items() if k != 'l'
        }
        out['l'] = torch.arange(
            times, device=rows['b'].device).repeat_interleave(n)
        return out

    @staticmethod
    def _head_rows(rows: Dict[str, Tensor], n: int) -> Dict[str, Tensor]:
        """The first ``n`` rows."""
        return {k: v[:n] for k, v in rows.items()}
