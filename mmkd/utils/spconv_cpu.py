"""Let spconv 2.3 train on a machine without a GPU."""
import sys

import torch


def allow_spconv_on_cpu() -> bool:
    """Make spconv's sparse convolutions train on the CPU.

    spconv 2.3's backward asks ``torch.cuda`` for the current stream even
    for CPU tensors; with a CUDA build of torch on a machine without a GPU
    that raises ``RuntimeError: Found no NVIDIA driver``. Without a GPU no
    tensor can be on CUDA, so the null stream (0) is the right answer.
    Nothing changes where CUDA is available or spconv is not imported.

    Returns:
        bool: Whether spconv's stream lookup was replaced.
    """
    ops = sys.modules.get('spconv.pytorch.ops')
    if ops is None or torch.cuda.is_available():
        return False
    if not getattr(ops.get_current_stream, 'mmkd_cpu', False):
        def null_stream() -> int:
            return 0

        null_stream.mmkd_cpu = True
        ops.get_current_stream = null_stream
    return True
