"""Convert an MMRazor distillation checkpoint into a plain student one.

    python tools/convert_mmrazor_checkpoint.py in.pth out.pth \
        [--teacher out_teacher.pth]

The ``architecture.*`` weights become a plain checkpoint (``meta`` kept)
that loads into the student's own config, usable with ``tools/test.py``,
as ``load_from``, ``distill.student_init`` or ``distill.teacher.checkpoint``.
``teacher.*`` is dropped, or written with ``--teacher``; ``distiller.*``
(connectors) and the optimizer state are dropped. mmkd also reads an
MMRazor checkpoint directly as a teacher or ``student_init`` checkpoint.
The logic is in ``mmkd/converters/mmrazor_checkpoint.py``.
"""
import argparse
import sys
from typing import List, Optional

from mmkd.converters import convert_mmrazor_checkpoint


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='the MMRazor checkpoint')
    parser.add_argument('out', help='where the student checkpoint goes')
    parser.add_argument('--teacher', help='also write the teacher here')
    args = parser.parse_args(argv)
    try:
        counts = convert_mmrazor_checkpoint(args.checkpoint, args.out,
                                            args.teacher)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    print(f'Wrote {args.out} ({counts["student"]} student tensors)'
          + (f' and {args.teacher} ({counts["teacher"]} teacher tensors)'
             if args.teacher else f'; dropped {counts["teacher"]} teacher')
          + f'; dropped {counts["dropped"]} other keys (distiller.).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
