"""Plot training losses (and any other scalars) of one or more work dirs.

    python tools/analysis/plot_losses.py WORK_DIR [WORK_DIR ...] \
        --keys loss distill.loss_pkd_fpn0 --out losses.png

Reads the ``vis_data/scalars.json`` that mmengine's LocalVisBackend writes
in the newest run folder of each work dir.
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence


def read_scalars(work_dir: str) -> List[dict]:
    """The scalar records of the newest run in ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(f'No */vis_data/scalars.json in {work_dir}')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_losses(runs: Dict[str, str], out: str,
                keys: Optional[Sequence[str]] = None) -> str:
    """Plot ``keys`` (default: every key containing 'loss') against the
    iteration for each labelled work dir of ``runs``; save to ``out``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    records = {label: [r for r in read_scalars(d) if 'iter' in r and
                       any('loss' in k for k in r)]
               for label, d in runs.items()}
    if keys is None:
        keys = sorted({k for rs in records.values() for r in rs for k in r
                       if 'loss' in k})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6),
                             squeeze=False)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, key in zip(axes[0], keys):
        for i, (label, rs) in enumerate(records.items()):
            points = [(r['iter'], r[key]) for r in rs if key in r]
            if points:  # one colour per run in every panel
                ax.plot(*zip(*points), label=label,
                        color=colors[i % len(colors)])
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--keys', nargs='+', help='scalars to plot')
    parser.add_argument('--out', default='losses.png')
    args = parser.parse_args()
    runs = {osp.basename(osp.normpath(d)): d for d in args.work_dirs}
    print(f'wrote {plot_losses(runs, args.out, args.keys)}')


if __name__ == '__main__':
    main()
