from .scope_hook import activate as activate_scope_hook

__all__ = ['activate_scope_hook']
