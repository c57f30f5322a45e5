# The results zoo's detection teacher (tools/zoo.py det_pkd): the mini
# RTMDet teacher (configs/mini/det/rtmdet_teacher.py, 8.9 M params) trained
# twice as long (24 epochs of all 320 images) so that it is clearly stronger
# than the student it teaches.
_base_ = ['../mini/det/rtmdet_teacher.py']

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_det_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
