# Channel-wise distillation (CWD) on the decode-head logits of an mmseg
# EncoderDecoder (tau 1, weight 5).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        cwd_logits=dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=5.0,
                        on_logits=True,
                        student='decode_head.conv_seg',
                        teacher='decode_head.conv_seg')))
