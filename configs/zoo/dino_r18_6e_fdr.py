# dino_r18_6e.py + D-FINE's FDR and FGL loss, no DDF, every layer's box and
# FGL losses on the union set of all layers' matches: the official D-FINE
# criterion with the DDF weight 0 (configs/dfine/mini_dino_r18_fdr_union.py).
# The plain row of tools/zoo.py det_dfine_golsd and the distilled row of
# det_dfine_fdr.
_base_ = ['./dino_r18_6e.py']
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)
model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(
        type='mmkd.DFineDINOHead', loss_ddf=None, union_matching=True))
