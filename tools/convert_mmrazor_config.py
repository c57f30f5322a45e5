"""Convert an MMRazor distillation config into an mmkd config.

    python tools/convert_mmrazor_config.py razor_cfg.py -o mmkd_cfg.py \
        [--mmrazor-root mmrazor/]

The mmkd config inherits the student's config (MMRazor's
``architecture.cfg_path``) and adds ``runner_type`` and a ``distill`` dict
with the same teacher, losses, weights, recorded tensors, connectors and
stop schedule; runner settings of the MMRazor config that differ from the
student config's are written too (MMRazor's BYOT, ``SelfDistill``, becomes
mmkd's self-distillation). What mmkd cannot reproduce (MethodOutputs or
FunctionOutputs recorders, data-free algorithms, self-distillation other
than BYOT, unknown losses ...) is listed by name, the exit status is 1 and
nothing is written. Configs that mmdet 3 / mmpretrain 1 renamed are read by
their new names (said in the file's header); ``mmrazor::`` configs are read
from ``--mmrazor-root`` (a checkout of MMRazor) and inlined. The logic is
in ``mmkd/converters/mmrazor/``.
"""
import argparse
import sys
from typing import List, Optional

from mmkd.converters import UnmappableError, write_mmrazor_config


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the MMRazor config file')
    parser.add_argument('-o', '--out', required=True,
                        help='where the mmkd config is written')
    parser.add_argument('--mmrazor-root', metavar='DIR',
                        help='a checkout of MMRazor: DIR/configs resolves '
                        'mmrazor:: config paths (their content is inlined)')
    args = parser.parse_args(argv)
    try:
        conversion = write_mmrazor_config(args.config, args.out,
                                          args.mmrazor_root)
    except UnmappableError as e:
        print(f'{args.config}: {e}\nNothing was written.', file=sys.stderr)
        return 1
    print(f'Wrote {args.out} ({len(conversion.distill["losses"])} '
          'distillation losses).')
    for note in conversion.notes:
        print(f'  - {note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
