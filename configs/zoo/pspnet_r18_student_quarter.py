# The results zoo's plain segmentation student (tools/zoo.py seg_cwd): the
# half-width mini PSPNet (configs/mini/seg/pspnet_r18_student.py) trained on
# the first 80 of the 320 images, for its usual 400 iterations.
_base_ = ['../mini/seg/pspnet_r18_student.py']

train_dataloader = dict(dataset=dict(indices=80))
