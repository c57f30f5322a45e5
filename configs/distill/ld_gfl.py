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
# One loss per FPN level (ld0 .. ld4, GFL's 5 levels): the recorders take
# `bbox_head.scales.i`, the scaled distribution logits
# (N, 4 * (reg_max + 1), H, W) of level i, for every location (mean over
# locations and edges). (mmdet runs the teacher's head through
# `bbox_head.forward`, which forward hooks cannot see, so the head's whole
# (cls_scores, bbox_preds) output is not recordable on the teacher.)
# The student's own GFL losses are kept.
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses={
        f'ld{i}': dict(
            type='LDLoss',
            student=f'bbox_head.scales.{i}',
            teacher=f'bbox_head.scales.{i}',
            connector=None,
            reg_max=16,
            temperature=10.0,
            loss_weight=0.25)
        for i in range(5)
    },
    student_gt_loss=True,
)
