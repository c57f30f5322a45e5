# The results zoo's plain UNet (tools/zoo.py seg_dsd): the mini UNet
# (configs/mini/seg/unet_s4_student.py, mmseg's UNet + FCNHead at 4 stages
# of 8-64 channels) on the first 80 of the 320 images, 800 iterations (it
# stays near the all-background plateau for the first ~400).
_base_ = ['../mini/seg/unet_s4_student.py']

train_dataloader = dict(dataset=dict(indices=80))
max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = _base_.mini_seg_poly[max_iters]
default_hooks = dict(checkpoint=dict(interval=max_iters))
