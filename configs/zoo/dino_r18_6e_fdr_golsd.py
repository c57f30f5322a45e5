# dino_r18_6e.py + D-FINE's FDR and GO-LSD: FGL and DDF (weight 1.5, T 5) on
# the union set (configs/dfine/mini_dino_r18_fdr_golsd.py). The distilled row
# of tools/zoo.py det_dfine_golsd, paired with dino_r18_6e_fdr.py.
_base_ = ['./dino_r18_6e.py']
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)
model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(
        type='mmkd.DFineDINOHead',
        loss_ddf=dict(type='mmkd.DDFLoss', temperature=5.0, loss_weight=1.5),
        union_matching=True))
