# A complete PointDistiller config, the way a user writes one: the 4x
# PointPillars student config is inherited unchanged, the recipe adds the
# local (kNN graph) distillation of the pillar features, and the teacher is
# named with its config and checkpoint (tools/demos/pointdistiller_demo.py
# trains it first). Needs mmdet3d 1.4.0 (tools/setup_env.sh installs it).
#   python tools/train.py configs/examples/pointpillars_student_pointdistiller_mini.py
# N and K are scaled to the mini clouds (~1.4k pillars a frame, batch 4,
# where the official KITTI setting pools ~10k a frame, batch 6, with
# N = 6000, K = 128); everything else is the recipe's (tau 0.01, C' 32,
# importance = points per pillar, weight 2).
_base_ = [
    '../mini/det3d/pointpillars_student.py',
    'mmkd::distill/pointdistiller_pointpillars.py',
]
distill = dict(
    teacher=dict(
        config='mmkd::mini/det3d/pointpillars_teacher.py',
        checkpoint='work_dirs/pointdistiller_demo/teacher/epoch_20.pth'),
    losses=dict(pointdistiller=dict(num_items=1024, num_neighbors=64)))
