# Localization Distillation (LD) for GFL-style distribution box heads.
# Zheng et al., "Localization Distillation for Dense Object Detection",
# CVPR 2022 (arXiv:2102.12252): per edge T^2 * KL over the reg_max + 1 bins,
# T = 10, weight 0.25 (KL averaged over the bins, as mmdet's
# KnowledgeDistillationKLDivLoss that the weight was tuned with).
#
# Usage (student and teacher heads must share reg_max, 16 in mmdet's GFL):
#   _base_ = ['mmdet::gfl/gfl_r50_fpn_1x_coco.py', 'mmkd::distill/ld_gfl.py']
#   distill = dict(teacher=dict(
#       config='mmdet::gfl/gfl_r101_fpn_ms-2x_coco.py',
#       checkpoint='gfl_r101.pth'))
#
# Two losses, as the LD authors' LDHead (github.com/HikariTJU/LD):
# - `ld`, the main distillation region (mmdet 3.x's LDHead `loss_ld`): the
#   positive locations of the student's own label assignment (ATSS in GFL),
#   each weighted by the student's top class score, summed over locations
#   and the 5 FPN levels, edges / 4. The student gives its head's output and
#   the labels its loss assigned (`bbox_head.get_targets()[1]`, read, not
#   recomputed: the student's own loss must run, student_gt_loss=True).
# - `ld_vlr`, the valuable localization region (`loss_ld_vlr`, not in
#   mmdet 3.x): the priors whose DIoU with a ground-truth box lies between a
#   quarter of ATSS's IoU threshold and the threshold, weighted by their
#   IoU, edges / 16; the student's priors (`bbox_head.get_targets()[0]`)
#   and the batch's boxes. `distill.losses.ld_vlr.loss_weight = 0` gives
#   mmdet 3.x's LD.
# The teacher gives its scaled distribution logits `bbox_head.scales.i`
# (N, 4 * (reg_max + 1), H, W) per level (mmdet runs the teacher's head
# through `bbox_head.forward`, which forward hooks cannot see).
# region='all' distils every location instead (mean over locations, edges).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses=dict(
        ld=dict(
            type='LDLoss',
            student=['bbox_head', 'bbox_head.get_targets()[1]'],
            teacher=[f'bbox_head.scales.{i}' for i in range(5)],
            connector=None,
            region='main',
            reg_max=16,
            temperature=10.0,
            loss_weight=0.25),
        ld_vlr=dict(
            type='LDLoss',
            student=['bbox_head[1]', 'bbox_head.get_targets()[0]'],
            teacher=[f'bbox_head.scales.{i}' for i in range(5)],
            connector=None,
            region='vlr',
            vlr_topk=9,
            reg_max=16,
            temperature=10.0,
            loss_weight=0.25)),
    student_gt_loss=True,
)
