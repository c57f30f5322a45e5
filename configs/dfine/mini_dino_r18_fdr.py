# mini_dino_r18.py + D-FINE's FDR (FGL loss), without GO-LSD: no DDF and
# each layer's box / FGL losses on its own Hungarian matches (mmkd's
# FDR-only mode). The official D-FINE code always uses the union-set
# matching; that variant is mini_dino_r18_fdr_union.py.
_base_ = './mini_dino_r18.py'
custom_imports = dict(
    imports=['mmkd', 'mmkd.models.dfine'], allow_failed_imports=False)
model = dict(
    type='mmkd.DFineDINO',
    bbox_head=dict(type='mmkd.DFineDINOHead', loss_ddf=None))
