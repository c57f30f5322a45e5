# The results zoo's distilled point-cloud student (tools/zoo.py
# det3d_pointdistiller): pointpillars_student_4x_quarter.py, unchanged, with
# the PointDistiller recipe on the pillar features, taught by
# pointpillars_teacher_40e.py. N and K scaled to the mini clouds (~1.4k
# pillars a frame, batch 4) as in
# configs/examples/pointpillars_student_pointdistiller_mini.py; the rest is
# the recipe's (tau 0.01, C' 32, importance = points per pillar, weight 2).
_base_ = [
    './pointpillars_student_4x_quarter.py',
    'mmkd::distill/pointdistiller_pointpillars.py',
]
distill = dict(
    teacher=dict(
        config='mmkd::zoo/pointpillars_teacher_40e.py',
        checkpoint='work_dirs/zoo/det3d_pointdistiller/teacher/epoch_40.pth'),
    losses=dict(pointdistiller=dict(num_items=1024, num_neighbors=64)))
