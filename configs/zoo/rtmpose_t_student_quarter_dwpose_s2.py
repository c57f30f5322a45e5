# The results zoo's pose student after DWPose stage 2 (tools/zoo.py
# pose_dwpose_s2): the stage-1 student of the same seed
# (rtmpose_t_student_quarter_dwpose_s1.py) teaches itself: its
# backbone frozen, a new head trained on its SimCC logits only, for 20% of
# the stage-1 epochs (DWPose: 60 of 270). tools/zoo.py passes the stage-1
# checkpoint of each seed as teacher and student_init.
_base_ = [
    './rtmpose_t_student_quarter.py',
    'mmkd::distill/dwpose_stage2.py'
]

stage1_checkpoint = ('work_dirs/zoo/pose_dwpose_s1/distilled_seed0/'
                     'epoch_80.pth')
distill = dict(
    teacher=dict(
        config='mmkd::zoo/rtmpose_t_student_quarter.py',
        checkpoint=stage1_checkpoint),
    student_init=dict(checkpoint=stage1_checkpoint))
max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_pose_stage2_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
