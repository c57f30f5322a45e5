# The results zoo's plain detection student (tools/zoo.py det_pkd): the mini
# RTMDet student (configs/mini/det/rtmdet_student.py, 2.2 M params) trained
# on a quarter of the images (the first 80 of 320) for the 480 iterations
# of the mini teacher's 12 epochs. Less data for the student than for its
# teacher is the regime in which distillation has something to pass on (the
# teacher has seen what the student has not).
_base_ = ['../mini/det/rtmdet_student.py']

train_dataloader = dict(dataset=dict(indices=80))
max_epochs = 48  # 10 iterations of 8 images each
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_det_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
