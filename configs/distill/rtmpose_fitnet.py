# FitNet (MSE) on the last backbone output of an mmpose top-down model, with
# a 1x1 conv connector built automatically when the channels differ.
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        fitnet=dict(type='MSELoss', loss_weight=1.0,
                    student='backbone[-1]', teacher='backbone[-1]')))
