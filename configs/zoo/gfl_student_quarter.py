# The results zoo's plain GFL student (tools/zoo.py det_ld): the mini GFL
# student (configs/mini/det/gfl_cspnext_student.py, 1.5 M params) on a
# quarter of the images (the first 80 of 320) for the same 480 iterations
# as the teacher's 12-epoch schedule: as the det_pkd family's RTMDet student.
_base_ = ['../mini/det/gfl_cspnext_student.py']

train_dataloader = dict(dataset=dict(indices=80))
max_epochs = 48  # 10 iterations of 8 images each
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        eta_min=_base_.base_lr * 0.05,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
