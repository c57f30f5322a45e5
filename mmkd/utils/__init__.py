from .scope_hook import activate as activate_scope_hook
from .spconv_cpu import allow_spconv_on_cpu

__all__ = ['activate_scope_hook', 'allow_spconv_on_cpu']
