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
    bbox_head=dict(type='mmkd.DFineDeformableDETRHead'))
