"""Training-time and memory overhead of D-FINE (FDR + GO-LSD) over plain
mmdet DINO, measured side by side in one run.

Both detectors are built from the same DINO config (the second with the
``mmkd.DFineDINO`` / ``mmkd.DFineDINOHead`` types), trained on the same
synthetic batch with the same optimizer, and their iterations are
interleaved (the order alternates every round), so load changes on a shared
machine hit both alike. Reported: median seconds per training iteration
(data preprocessing + forward + losses + backward + AdamW step) and peak
memory, with FDR+GO-LSD / plain ratios.

Memory: the model's own parameters, gradients and AdamW states plus, on
CUDA, the peak allocated memory of a training step over the memory held
before it; on CPU (no allocator statistics) the bytes of the tensors
autograd saves for the backward pass (activations; storages counted once).
The activation bytes are printed on every device.

    python benchmarks/dfine_overhead.py                       # mini DINO
    python benchmarks/dfine_overhead.py --queries 300 --layers 6 --img 320
    python benchmarks/dfine_overhead.py --device cuda --iters 50

The paper (arXiv 2410.13842) reports about 6% more training time and 2%
more memory for FDR + GO-LSD.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE_CFG = osp.join(REPO, 'configs', 'dfine', 'mini_dino_r18.py')
VARIANTS = ('plain', 'fdr_golsd')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--config', default=BASE_CFG,
                   help='plain mmdet DINO config (default: the mini DINO)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--img', type=int, default=160, help='image side (px)')
    p.add_argument('--gts', type=int, default=4, help='objects per image')
    p.add_argument('--queries', type=int, default=None)
    p.add_argument('--layers', type=int, default=None,
                   help='decoder layers')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=None,
                   help='measured iterations per model (10 CPU, 50 CUDA)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads')
    p.add_argument('--no-memory', action='store_true')
    args = p.parse_args(argv)
    if args.iters is None:
        args.iters = 50 if args.device.startswith('cuda') else 10
    return args


def build_model(args, variant: str):
    import mmkd.models.dfine  # noqa: F401  (registers the D-FINE types)
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('ERROR')
    init_default_scope('mmdet')
    cfg = Config.fromfile(args.config)
    model_cfg = cfg.model
    if args.queries:
        model_cfg.num_queries = args.queries
    if args.layers:
        model_cfg.decoder.num_layers = args.layers
    if variant == 'fdr_golsd':
        model_cfg.type = 'mmkd.DFineDINO'
        model_cfg.bbox_head.type = 'mmkd.DFineDINOHead'
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(args.device).train()


def make_batch(args):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    s = args.img
    for _ in range(args.batch):
        inputs.append(torch.randint(0, 256, (3, s, s), dtype=torch.uint8,
                                    generator=g))
        xy = torch.rand(args.gts, 2, generator=g) * s * 0.7
        wh = torch.rand(args.gts, 2, generator=g) * s * 0.25 + s * 0.05
        boxes = torch.cat([xy, (xy + wh).clamp(max=s)], 1)
        sample = DetDataSample(metainfo=dict(
            img_shape=(s, s), ori_shape=(s, s), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.randint(0, 3, (args.gts, ),
                                               generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def make_optim(model):
    from mmengine.optim import OptimWrapper
    return OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def state_bytes(model) -> int:
    """Parameters + gradients + two AdamW moments of the trainable ones."""
    total = 0
    for p in model.parameters():
        n = p.numel() * p.element_size()
        total += n + (3 * n if p.requires_grad else 0)
    return total


def timed_step(model, optim, data, device):
    sync(device)
    t = time.perf_counter()
    model.train_step(data, optim)
    sync(device)
    return time.perf_counter() - t


def saved_activation_bytes(model, optim, data) -> int:
    """Bytes of the tensors autograd saves for the backward pass of one
    training step (storages counted once, parameters excluded): the
    activation memory, on any device."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in params:
                seen[ptr] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # no plain storage
            seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train_step(data, optim)
    return sum(seen.values())


def measure(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {v: build_model(args, v) for v in VARIANTS}
    optims = {v: make_optim(m) for v, m in models.items()}
    data = make_batch(args)
    times = {v: [] for v in VARIANTS}
    mem = {v: [] for v in VARIANTS}
    cuda = args.device.startswith('cuda')
    for it in range(args.warmup + args.iters):
        order = VARIANTS if it % 2 == 0 else VARIANTS[::-1]
        for v in order:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            dt = timed_step(models[v], optims[v], data, args.device)
            if it >= args.warmup:
                times[v].append(dt)
                if cuda:
                    mem[v].append(torch.cuda.max_memory_allocated() - before +
                                  state_bytes(models[v]))
    result = dict(
        time={v: statistics.median(times[v]) for v in VARIANTS},
        # per round (the two models back to back): robust to load drift
        pair_ratio=statistics.median(
            f / p for p, f in zip(times['plain'], times['fdr_golsd'])),
        params={v: sum(p.numel() for p in models[v].parameters())
                for v in VARIANTS})
    if args.no_memory:
        return result
    if cuda:
        result['memory'] = {v: max(mem[v]) for v in VARIANTS}
        result['memory_kind'] = ('peak allocated during a step over the '
                                 'memory before it + own params, grads, '
                                 'AdamW states')
    else:
        result['memory'] = {
            v: saved_activation_bytes(models[v], optims[v], data) +
            state_bytes(models[v])
            for v in VARIANTS
        }
        result['memory_kind'] = ('tensors saved for backward (activations) '
                                 '+ params, grads, AdamW states')
    result['activations'] = {
        v: saved_activation_bytes(models[v], optims[v], data)
        for v in VARIANTS
    }
    return result


def main(argv=None):
    args = parse_args(argv)
    torch.backends.cudnn.benchmark = False
    res = measure(args)
    gpu = (f' ({torch.cuda.get_device_name()})'
           if args.device.startswith('cuda') else '')
    print(f'device: {args.device}{gpu}'
          f', torch threads: {torch.get_num_threads()}, config: '
          f'{osp.relpath(args.config, REPO)}, batch {args.batch} x '
          f'{args.img}px, {args.gts} objects/img, queries '
          f'{args.queries or "cfg"}, decoder layers {args.layers or "cfg"}, '
          f'{args.iters} measured iterations each (after {args.warmup} '
          'warm-up), interleaved')
    t = res['time']
    print(f'{"":<22}{"plain DINO":>14}{"+FDR+GO-LSD":>14}{"ratio":>9}')
    print(f'{"s / iter (median)":<22}{t["plain"]:>14.4f}'
          f'{t["fdr_golsd"]:>14.4f}{t["fdr_golsd"] / t["plain"]:>9.3f}')
    print(f'{"  median of per-round ratios":<45}{res["pair_ratio"]:>9.3f}')
    p = res['params']
    print(f'{"parameters (M)":<22}{p["plain"] / 1e6:>14.3f}'
          f'{p["fdr_golsd"] / 1e6:>14.3f}{p["fdr_golsd"] / p["plain"]:>9.3f}')
    if 'memory' in res:
        m = res['memory']
        print(f'{"memory (MiB)":<22}{m["plain"] / 2**20:>14.1f}'
              f'{m["fdr_golsd"] / 2**20:>14.1f}'
              f'{m["fdr_golsd"] / max(m["plain"], 1):>9.3f}')
        print(f'  memory = {res["memory_kind"]}')
        a = res['activations']
        print(f'{"  activations (MiB)":<22}{a["plain"] / 2**20:>14.1f}'
              f'{a["fdr_golsd"] / 2**20:>14.1f}'
              f'{a["fdr_golsd"] / max(a["plain"], 1):>9.3f}')
    return res


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    main()
