"""The package configs that MMRazor's configs name by the names of mmdet 2.x
and mmcls 1.x, which mmdet 3.3 and mmpretrain 1.2 renamed.

Every ``mmdet::``, ``mmcls::``, ``mmpretrain::``, ``mmseg::``, ``mmpose::``
and ``mmdet3d::`` path in MMRazor's ``configs/distill`` (and in the
``configs/vanilla`` files those name through ``mmrazor::``) was checked
against the installed packages' ``.mim/configs``; these are the ones not
found there, with the file that replaced each (the same model and schedule:
mmdet 3 spells ``faster_rcnn_`` as ``faster-rcnn_``; mmpretrain 1.0 dropped
``_pt-`` from DeiT's names, its metafile keeps the old checkpoint name).
"""
from typing import Dict, Optional

__all__ = ['RENAMED_CONFIGS', 'renamed_config']

RENAMED_CONFIGS: Dict[str, str] = {
    'mmdet::faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py':
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'mmdet::faster_rcnn/faster_rcnn_r101_fpn_2x_coco.py':
    'mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    'mmcls::deit/deit-base_pt-16xb64_in1k.py':
    'mmpretrain::deit/deit-base_16xb64_in1k.py',
}


def renamed_config(name: str) -> Optional[str]:
    """The new name of config ``name`` (``mmcls::`` and ``mmpretrain::``
    spellings alike), or None when it was not renamed."""
    if name.startswith('mmpretrain::'):
        name = 'mmcls::' + name[len('mmpretrain::'):]
    return RENAMED_CONFIGS.get(name)
