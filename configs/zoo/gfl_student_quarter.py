# The results zoo's plain GFL student (tools/zoo.py det_ld): the mini GFL
# student (configs/mini/det/gfl_cspnext_student.py, 1.5 M params) on a
# quarter of the images (the first 80 of 320) for the 480 iterations of the
# mini teacher's 12 epochs: as the det_pkd family's RTMDet student.
_base_ = ['../mini/det/gfl_cspnext_student.py']

train_dataloader = dict(dataset=dict(indices=80))
max_epochs = 48  # 10 iterations of 8 images each
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_det_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
