# Feature KD on an mmpretrain ImageClassifier: FitNet (MSE) on the last
# backbone stage, with a 1x1 conv connector built automatically when the
# student has fewer channels, plus logit KD as in cls_kd.py.
_base_ = ['./cls_kd.py']
distill = dict(
    losses=dict(
        fitnet=dict(type='MSELoss', loss_weight=1.0,
                    student='backbone[-1]', teacher='backbone[-1]')))
