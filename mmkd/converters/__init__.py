"""Converters from other distillation toolboxes' configs and checkpoints."""
from .mmrazor import (Conversion, UnmappableError, convert_mmrazor_config,
                      write_mmrazor_config)
from .mmrazor_checkpoint import convert_mmrazor_checkpoint, split_mmrazor_state

__all__ = [
    'Conversion', 'UnmappableError', 'convert_mmrazor_config',
    'write_mmrazor_config', 'convert_mmrazor_checkpoint',
    'split_mmrazor_state'
]
