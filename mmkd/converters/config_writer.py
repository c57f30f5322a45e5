"""Write plain Python values as the text of an OpenMMLab config file."""
import keyword
from typing import Any, List

_WIDTH = 79


def _is_name(key: Any) -> bool:
    return (isinstance(key, str) and key.isidentifier()
            and not keyword.iskeyword(key))


def format_value(value: Any, indent: int = 0, column: int = 0) -> str:
    """``value`` as Python source: dicts as ``dict(k=v)`` (``{...}`` when a
    key is not an identifier), containers one item a line when they do not
    fit on one line of 79 characters.

    Args:
        value: A config value (dict, list, tuple, str, number, bool, None).
        indent: The indentation of the line the value is on.
        column: The column the value starts at.

    Returns:
        str: The source text; ``eval`` of it gives ``value`` back.
    """
    one_line = _format_flat(value)
    if column + len(one_line) <= _WIDTH or not isinstance(
            value, (dict, list, tuple)) or not value:
        return one_line
    inner = indent + 4
    if isinstance(value, dict):
        if all(_is_name(k) for k in value):
            items = [f'{k}=' + format_value(v, inner, inner + len(k) + 1)
                     for k, v in value.items()]
            open_, close = 'dict(', ')'
        else:
            items = [f'{k!r}: ' + format_value(v, inner,
                                               inner + len(repr(k)) + 2)
                     for k, v in value.items()]
            open_, close = '{', '}'
    else:
        items = [format_value(v, inner, inner) for v in value]
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
        if isinstance(value, tuple) and len(value) == 1:
            items[0] += ','
    body = ',\n'.join(' ' * inner + item for item in items)
    if close == ')':
        return f'{open_}\n{body})'
    return f'{open_}\n{body}\n' + ' ' * indent + close


def _format_flat(value: Any) -> str:
    if isinstance(value, dict):
        if all(_is_name(k) for k in value):
            return 'dict(' + ', '.join(
                f'{k}={_format_flat(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(
            f'{k!r}: {_format_flat(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_format_flat(v) for v in value) + ']'
    if isinstance(value, tuple):
        inner = ', '.join(_format_flat(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    return repr(value)


def format_assignments(items: List[tuple]) -> str:
    """``name = value`` lines for ``(name, value)`` pairs."""
    return '\n'.join(f'{name} = {format_value(value, 0, len(name) + 3)}'
                     for name, value in items) + '\n'
