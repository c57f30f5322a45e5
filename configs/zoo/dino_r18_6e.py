# The results zoo's D-FINE baseline (tools/zoo.py det_dfine_fdr): the mini
# DINO (configs/dfine/mini_dino_r18.py: ResNet-18 from scratch, 2 encoder /
# 4 decoder layers) with 30 queries, on all 320 training scenes in batches of
# 4 for 6 epochs (480 iterations, about 10 min on one CPU core). D-FINE is
# self-distillation: no teacher, the same schedule for every row.
_base_ = ['../dfine/mini_dino_r18.py']

model = dict(num_queries=30, test_cfg=dict(max_per_img=90))
train_dataloader = dict(batch_size=4)
max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', eta_min=4e-5, begin=0, end=max_epochs,
         T_max=max_epochs, by_epoch=True, convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
