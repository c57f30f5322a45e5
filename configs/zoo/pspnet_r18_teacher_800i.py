# The results zoo's segmentation teacher (tools/zoo.py seg_cwd): the mini
# PSPNet R-18 teacher (configs/mini/seg/pspnet_r18_teacher.py) trained twice
# as long (800 iterations on all 320 images).
_base_ = ['../mini/seg/pspnet_r18_teacher.py']

max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = _base_.mini_seg_poly[max_iters]
default_hooks = dict(checkpoint=dict(interval=max_iters))
