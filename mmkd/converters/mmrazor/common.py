"""What the MMRazor config conversion shares: its error, its report of
problems and notes, and reading MMRazor's config values."""
from typing import Any, Dict, List

__all__ = ['UnmappableError', 'Report', 'razor_type', 'to_plain']


class UnmappableError(ValueError):
    """Parts of an MMRazor config that mmkd cannot reproduce.

    Args:
        items (list[str]): One line per part, naming it and why.
    """

    def __init__(self, items: List[str]) -> None:
        self.items = items
        super().__init__(
            'Cannot convert this MMRazor config; mmkd has no equivalent '
            'for:\n' + '\n'.join(f'  - {item}' for item in items))


class Report:
    """What one conversion found.

    Attributes:
        problems (list[str]): The parts mmkd cannot reproduce (raised
            together as :class:`UnmappableError`).
        notes (list[str]): What was mapped differently or dropped.
        loss_notes (dict[str, list[str]]): Notes on losses, each with the
            names of the losses it concerns (equal notes are merged).
    """

    def __init__(self) -> None:
        self.problems: List[str] = []
        self.notes: List[str] = []
        self.loss_notes: Dict[str, List[str]] = {}

    def loss_note(self, name: str, note: str) -> None:
        """A note on loss ``name``; equal notes of losses are merged."""
        self.loss_notes.setdefault(note, []).append(name)

    def all_notes(self) -> List[str]:
        """The notes, then the merged loss notes."""
        return self.notes + [f'{", ".join(names)}: {note}'
                             for note, names in self.loss_notes.items()]


def razor_type(cfg: Any) -> str:
    """The type name of a config without its ``mmrazor.`` scope."""
    type_ = cfg.get('type', '') if isinstance(cfg, dict) else ''
    type_ = type_ if isinstance(type_, str) else getattr(
        type_, '__name__', str(type_))
    return type_.split('.', 1)[1] if type_.startswith('mmrazor.') else type_


def to_plain(value: Any) -> Any:
    """ConfigDicts and tuples-of-them as plain dicts and lists."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_plain(v) for v in value)
    return value
