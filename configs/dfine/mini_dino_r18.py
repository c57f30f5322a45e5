# A small DINO for mmkd's mini shapes data (CPU-sized): ResNet-18 from
# scratch, 256-d transformer (mmdet's DINO decoder assumes 256) with 512-d
# FFNs, 2 encoder / 4 decoder layers, 100 queries, 160 px images. The
# baseline of tools/demos/dfine_ablation.py; mini_dino_r18_fdr.py,
# mini_dino_r18_fdr_union.py and mini_dino_r18_fdr_golsd.py add D-FINE.
#   python tools/make_mini_data.py
#   python tools/train.py configs/dfine/mini_dino_r18.py
_base_ = [
    'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
    '../_base_/datasets/mini_det.py'
]

embed_dims = 256
model = dict(
    num_queries=100,
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: nothing to download
    neck=dict(in_channels=[128, 256, 512], out_channels=embed_dims),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
    decoder=dict(
        num_layers=4,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims),
            cross_attn_cfg=dict(embed_dims=embed_dims),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512))),
    positional_encoding=dict(num_feats=embed_dims // 2),
    bbox_head=dict(
        num_classes=3, embed_dims=embed_dims, sync_cls_avg_factor=False),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=50)),
    test_cfg=dict(max_per_img=100))

# data: mmkd's mini shapes (see configs/_base_/datasets/mini_det.py)
data_root = _base_.mini_data_root
train_pipeline = _base_.mini_det_train_pipeline
test_pipeline = _base_.mini_det_test_pipeline
train_dataloader = dict(_delete_=True, **_base_.mini_det_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.mini_det_val_dataloader)
test_dataloader = dict(_delete_=True, **_base_.mini_det_test_dataloader)
val_evaluator = dict(_delete_=True, **_base_.mini_det_val_evaluator)
test_evaluator = dict(_delete_=True, **_base_.mini_det_test_evaluator)

# schedule: short, for 2 CPU cores (the backbone trains from scratch, so no
# backbone lr multiplier)
max_epochs = 12
optim_wrapper = dict(
    optimizer=dict(lr=4e-4),
    paramwise_cfg=dict(_delete_=True, custom_keys={}))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', eta_min=4e-5, begin=0, end=max_epochs,
         T_max=max_epochs, by_epoch=True, convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))
