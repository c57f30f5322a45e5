# The results zoo's UNet with dual self-distillation (tools/zoo.py seg_dsd):
# unet_student.py, unchanged, with mmkd's DSD recipe for a 4-stage UNet
# (configs/distill/seg_dsd_unet.py): heads on the bottleneck and decoder.2
# taught by the auxiliary head on decoder.1 and by the labels, heads on
# encoder.0-2 taught by encoder.2's. No teacher.
_base_ = ['./unet_student.py', 'mmkd::distill/seg_dsd_unet.py']

distill = dict(losses=dict(_delete_=True, **_base_.dsd_unet_s4_losses))
