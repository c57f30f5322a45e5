# mini_dino_r18.py + D-FINE's FDR and GO-LSD (FGL 0.15, DDF 1.5, T = 5,
# union-set matching).
_base_ = './mini_dino_r18.py'
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)
model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(type='mmkd.DFineDINOHead'))
