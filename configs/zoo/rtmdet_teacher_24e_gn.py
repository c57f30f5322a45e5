# The results zoo's repaired detection teacher (issue 21): the mini RTMDet
# teacher of rtmdet_teacher_24e.py with GroupNorm (8 groups) instead of
# BatchNorm in backbone, neck and head, nothing else changed.
# Why: trained from scratch with 8 images a batch, the BatchNorm teachers'
# neck maps blow up in eval mode on a few of the students' 80 images (e.g.
# the seed-0 teacher: level 2 of shapes_000022 at 25x the median image,
# one position of level 1 at 140x), the blow-up growing from the backbone's
# stage 3. In train mode the same images are tame (each batch's statistics
# absorb them; the training loss never sees the blow-up), and BatchNorm
# statistics recomputed over all 320 images keep it (26.8x): the network
# relies on batch statistics. A lower learning rate (0.002, 200 warm-up
# iterations) made it worse (86x). GroupNorm has no train/eval difference:
# what the teacher learnt on is what the student is taught.
_base_ = ['./rtmdet_teacher_24e.py']

norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    bbox_head=dict(norm_cfg=norm_cfg))
