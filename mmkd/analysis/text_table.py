"""Numbers and tables as plain text, for the KD doctor's report."""
import math
from typing import List


def format_number(x: float, spec: str = '.3g') -> str:
    """``x`` in ``spec``; ``-`` for None and nan."""
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) \
        else format(x, spec)


def format_table(head: List[str], rows: List[List[str]]) -> str:
    """A markdown-style table of ``head`` and ``rows``, columns padded."""
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: '| ' + ' | '.join(  # noqa: E731
        c.ljust(w) for c, w in zip(r, widths)) + ' |'
    return '\n'.join([line(head), line(['-' * w for w in widths])] +
                     [line(r) for r in rows])
