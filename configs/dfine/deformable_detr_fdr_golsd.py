# D-FINE's FDR + GO-LSD on mmdet's two-stage, box-refined Deformable DETR.
# (Plain single-stage Deformable DETR also works with
# `with_box_refine=True`; FDR is a per-layer refinement.)
#
#   _base_ = 'mmdet::deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py'  # noqa
#   custom_imports = dict(imports=['mmkd.models.dfine'],
#                         allow_failed_imports=False)
#   model = dict(type='mmkd.DFineDeformableDETR',
#                bbox_head=dict(type='mmkd.DFineDeformableDETRHead'))
_base_ = 'mmdet::deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py'  # noqa
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)

model = dict(
    type='mmkd.DFineDeformableDETR',
    bbox_head=dict(
        type='mmkd.DFineDeformableDETRHead',
        # the official D-FINE classification loss (loss_labels_vfl, also for
        # b0 and the encoder proposals): VFL with the detached IoU of the
        # matched box as target; mmdet's Deformable DETR uses FocalLoss
        loss_cls=dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75,
                      gamma=2.0, iou_weighted=True, loss_weight=1.0)))
