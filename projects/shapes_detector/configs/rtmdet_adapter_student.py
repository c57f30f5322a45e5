# The project's student: mmkd's mini RTMDet student with the project's neck.
_base_ = ['mmkd::mini/det/rtmdet_student.py']
custom_imports = dict(imports=['shapes_det'], allow_failed_imports=False)
model = dict(neck=dict(type='ShapesFPNAdapter'))
