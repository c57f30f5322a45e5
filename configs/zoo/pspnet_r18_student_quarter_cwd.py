# The results zoo's distilled segmentation student (tools/zoo.py seg_cwd):
# pspnet_r18_student_quarter.py, unchanged, with mmkd's CWD recipe on the
# decode head's logits, taught by pspnet_r18_teacher_800i.py.
_base_ = ['./pspnet_r18_student_quarter.py',
          'mmkd::distill/seg_cwd_logits.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/pspnet_r18_teacher_800i.py',
        checkpoint='work_dirs/zoo/seg_cwd/teacher/iter_800.pth'))
