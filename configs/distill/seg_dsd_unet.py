# Dual self-distillation (DSD, Banerjee et al., IEEE TBME 2025) of an
# mmseg UNet + FCNHead segmentor, no teacher, with the official code's
# hyper-parameters (soumbane/DualSelfDistillation: temperature 3,
# alpha = beta = 1, DiceCE deep supervision of weight 1 on each decoder
# head).
# - Between decoders: an auxiliary head (mmkd's DSDHead: 1x1 conv to the
#   classes, shared 2x2 deconv upsampling) on the bottleneck and on each
#   decoder stage below the penultimate one learns from the ground truth
#   and from the deepest decoder's class map, which in the official code is
#   a GT-supervised head on the penultimate decoder stage: mmseg's own
#   `auxiliary_head` (FCNHead, in_index=-2), detached (DSDLoss).
# - Between encoders: a head on each encoder stage before the bottleneck;
#   the deepest one's map teaches the shallower ones', not detached, no
#   ground truth (DSDEncoderLoss; `decode_head.conv_seg` gives the classes
#   and the output size).
# The heads are saved under `distill_state`; the checkpoint is the plain
# segmentor's.
#
# The default losses are for mmseg's UNet-S5 (num_stages=5, the unet-s5-d16
# configs):
#   _base_ = ['mmseg::unet/unet-s5-d16_fcn_4xb4-40k_drive-64x64.py',
#             'mmkd::distill/seg_dsd_unet.py']
# for a 4-stage UNet (auxiliary_head in_index=2) pick the other set, as
# configs/zoo/unet_student_dsd.py does:
#   _base_ = ['my_unet_s4.py', 'mmkd::distill/seg_dsd_unet.py']
#   distill = dict(losses=dict(_delete_=True, **_base_.dsd_unet_s4_losses))
# To let the final logits teach the decoders instead (the paper's figure
# puts the teacher head on the last decoder, one stage above the code's),
# set each dsd_dec* loss's teacher='decode_head.conv_seg', double its
# scale_factor and add a loss on 'backbone.decoder.1' (scale_factor=2).
runner_type = 'mmkd.DistillRunner'

# UNet-S5: stage i at 1/2**i of the input; the bottleneck is encoder.4
dsd_unet_s5_losses = dict(
    dsd_dec_bottleneck=dict(
        type='DSDLoss', tau=3.0, loss_weight=1.0, ds_weight=1.0,
        student='backbone.encoder.4', teacher='auxiliary_head.conv_seg',
        connector=dict(type='DSDHead', scale_factor=8)),
    dsd_dec3=dict(
        type='DSDLoss', tau=3.0, loss_weight=1.0, ds_weight=1.0,
        student='backbone.decoder.3', teacher='auxiliary_head.conv_seg',
        connector=dict(type='DSDHead', scale_factor=4)),
    dsd_dec2=dict(
        type='DSDLoss', tau=3.0, loss_weight=1.0, ds_weight=1.0,
        student='backbone.decoder.2', teacher='auxiliary_head.conv_seg',
        connector=dict(type='DSDHead', scale_factor=2)),
    dsd_enc=dict(
        type='DSDEncoderLoss', tau=3.0, loss_weight=1.0,
        student=['backbone.encoder.0', 'backbone.encoder.1',
                 'backbone.encoder.2', 'backbone.encoder.3'],
        teacher='decode_head.conv_seg', scale_factors=(1, 2, 4, 8)))

# UNet-S4: the bottleneck is encoder.3, the penultimate decoder decoder.1
dsd_unet_s4_losses = dict(
    dsd_dec_bottleneck=dict(
        type='DSDLoss', tau=3.0, loss_weight=1.0, ds_weight=1.0,
        student='backbone.encoder.3', teacher='auxiliary_head.conv_seg',
        connector=dict(type='DSDHead', scale_factor=4)),
    dsd_dec2=dict(
        type='DSDLoss', tau=3.0, loss_weight=1.0, ds_weight=1.0,
        student='backbone.decoder.2', teacher='auxiliary_head.conv_seg',
        connector=dict(type='DSDHead', scale_factor=2)),
    dsd_enc=dict(
        type='DSDEncoderLoss', tau=3.0, loss_weight=1.0,
        student=['backbone.encoder.0', 'backbone.encoder.1',
                 'backbone.encoder.2'],
        teacher='decode_head.conv_seg', scale_factors=(1, 2, 4)))

distill = dict(self_distill=True, losses=dsd_unet_s5_losses)
