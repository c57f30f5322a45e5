"""The KD doctor's figure: gradient norms per loss over the iterations."""
from typing import Sequence

from .diagnosis import Diagnosis
from .doctor_warnings import GRAD_RATIO_HIGH


def plot_doctor(history: Sequence[Diagnosis], out: str) -> str:
    """Save one figure of three panels to ``out``: the gradient norm of
    each distillation loss on the shared student parameters beside the task
    loss's (whole student) per iteration; their ratio to the task gradient
    on the same parameters (with the warning threshold); the loss values
    beside the task loss.

    Args:
        history: One :class:`Diagnosis` per iteration, in order.
        out: The image path (``.png``, ``.pdf`` ...).

    Returns:
        ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    iters = list(range(1, len(history) + 1))
    names = [d.key for d in history[0].losses]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']

    def series(attr: str, key: str) -> list:
        return [next((getattr(d, attr) for d in h.losses if d.key == key),
                     float('nan')) for h in history]

    ax = axes[0]
    ax.plot(iters, [h.task_grad_norm for h in history], color='black',
            lw=2, label='task loss (whole student)')
    for i, key in enumerate(names):
        color = colors[i % len(colors)]
        ax.plot(iters, series('grad_norm', key), color=color, label=key)
        ax.plot(iters, series('task_grad_norm', key), color=color, ls=':',
                lw=1, label=f'task, on {key}\'s parameters')
    ax.set_title('gradient norm on the student')
    ax.set_yscale('log')

    ax = axes[1]
    for i, key in enumerate(names):
        ax.plot(iters, series('grad_ratio', key),
                color=colors[i % len(colors)], label=key)
    ax.axhline(1, color='black', lw=1, label='equal to the task gradient')
    ax.axhline(GRAD_RATIO_HIGH, color='red', ls='--', lw=1,
               label=f'{GRAD_RATIO_HIGH:g}x: warned')
    ax.set_title('distillation / task gradient norm')
    ax.set_yscale('log')

    ax = axes[2]
    ax.plot(iters, [h.task_loss for h in history], color='black', lw=2,
            label='task loss')
    for i, key in enumerate(names):
        ax.plot(iters, series('value', key), color=colors[i % len(colors)],
                label=key)
    ax.set_title('loss value')
    ax.set_yscale('symlog', linthresh=1e-3)
    for ax in axes:
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle('mmkd KD doctor', fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
