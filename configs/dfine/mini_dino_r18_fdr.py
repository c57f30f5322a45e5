# mini_dino_r18.py + D-FINE's FDR (FGL loss), without GO-LSD.
_base_ = './mini_dino_r18.py'
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)
model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(type='mmkd.DFineDINOHead', loss_ddf=None))
