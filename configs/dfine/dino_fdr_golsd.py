# D-FINE's FDR + GO-LSD on mmdet's DINO-4scale R50 (COCO, 12 epochs).
# Peng et al., "D-FINE: Redefine Regression Task in DETRs as Fine-grained
# Distribution Refinement", arXiv:2410.13842.
#
# The model dict is mmdet's; only the detector and head types change (the
# decoder's refinement loop becomes FDR, the head adds the FGL and DDF
# losses and GO-LSD's union-set matching). For any other mmdet DINO config
# the same lines work after its own `_base_`:
#
#   _base_ = 'path/or/mmdet::dino/your_dino_config.py'
#   custom_imports = dict(imports=['mmkd.models.dfine'],
#                         allow_failed_imports=False)
#   model = dict(type='mmkd.DFineDINO',
#                bbox_head=dict(type='mmkd.DFineDINOHead'))
#
# FDR only (no GO-LSD):  bbox_head=dict(type='mmkd.DFineDINOHead',
#                                       loss_ddf=None)
# W(n): num_bins (N, 32), up (a, 0.5), reg_scale (c, 4) are head arguments.
# LQE (box-distribution quality added to the class logits): use_lqe=True.
# Test-time cost and outputs are DINO's (boxes, scores, labels).
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)

model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(
        type='mmkd.DFineDINOHead',
        num_bins=32,        # N: 4 edges x (N + 1) bins per decoder layer
        up=0.5,             # a: W(n) spans +-2a box sizes
        reg_scale=4.0,      # c: curvature of W(n)
        use_lqe=True,       # localization quality estimator on the logits
        # the official D-FINE classification loss (loss_labels_vfl, every
        # layer, b0, encoder and denoising queries): VFL with the detached
        # IoU of the matched box as target; mmdet's DINO uses FocalLoss
        loss_cls=dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75,
                      gamma=2.0, iou_weighted=True, loss_weight=1.0),
        loss_fgl=dict(type='mmkd.FGLLoss', loss_weight=0.15),
        loss_ddf=dict(type='mmkd.DDFLoss', temperature=5.0,
                      loss_weight=1.5)))
