# mini_dino_r18.py + D-FINE's FDR (FGL loss) with the union-set matching of
# GO-LSD but no DDF: the box (L1, GIoU) and FGL losses of every layer use the
# union of all layers' matches, as the official D-FINE criterion always does
# (Peterande/D-FINE, DFINECriterion._get_go_indices), i.e. the official
# configuration with the DDF weight set to 0. mini_dino_r18_fdr.py instead
# gives each layer its own Hungarian matches.
_base_ = './mini_dino_r18_fdr.py'
model = dict(bbox_head=dict(union_matching=True))
