from .adapter_neck import ShapesFPNAdapter

__all__ = ['ShapesFPNAdapter']
