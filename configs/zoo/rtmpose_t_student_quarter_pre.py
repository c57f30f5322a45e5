# The results zoo's plain pose student starting from a pretrained backbone
# (tools/zoo.py pose_dwpose_s1_pre): rtmpose_t_student_quarter.py with its
# backbone loaded from cspnext_tiny_det_pretrain.py's checkpoint (the zoo
# trains it first and passes its path).
_base_ = ['./rtmpose_t_student_quarter.py']

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            prefix='backbone.',
            checkpoint='work_dirs/zoo/pose_dwpose_s1_pre/pretrain/'
            'epoch_24.pth')))
