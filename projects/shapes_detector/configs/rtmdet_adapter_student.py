# The project's student: mmkd's mini RTMDet student with the project's neck.
# (by path: a `mmkd::` base would put its types in the mmkd scope)
_base_ = ['../../../configs/mini/det/rtmdet_student.py']
custom_imports = dict(imports=['shapes_det'], allow_failed_imports=False)
model = dict(neck=dict(type='ShapesFPNAdapter'))
