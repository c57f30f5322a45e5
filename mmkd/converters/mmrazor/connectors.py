"""MMRazor's connectors as the connector of an mmkd loss."""
from typing import Any, Dict, List, Optional, Union

from .common import Report, razor_type

__all__ = ['CONNECTORS', 'connector_cfg', 'student_connector']

# connectors with the same name, arguments and computation in mmkd
CONNECTORS = ('ConvModuleConnector', 'NormConnector', 'MGDConnector')


def connector_cfg(name: str, arg: str, item: dict,
                  connectors: Dict[str, Any], used: Dict[str, List[str]],
                  report: Report) -> Union[dict, None, bool]:
    """The MMRazor connector config of a ``loss_forward_mappings`` item
    (unscoped ``type``, its name under ``_name``).

    Args:
        name (str): The loss.
        arg (str): The loss argument the item feeds.
        item (dict): The mapping item.
        connectors (dict): The distiller's connectors.
        used (dict): Connector name -> the losses using it (updated).
        report (Report): Collects the problems.

    Returns:
        dict | None | bool: The config, None without a connector, False
        when unmappable.
    """
    where = f'loss_forward_mappings.{name}.{arg}'
    if item.get('connector_idx') is not None:
        conn = connectors.get(item.get('connector'), {})
        if not razor_type(conn).startswith('FBKD'):
            report.problems.append(f'{where}.connector_idx (picking one '
                                   'output of a connector).')
            return False
    conn_name = item.get('connector')
    if not conn_name:
        return None
    if conn_name not in connectors:
        report.problems.append(f'{where}: no connector {conn_name!r}.')
        return False
    used.setdefault(conn_name, []).append(name)
    cfg = connectors[conn_name]
    if isinstance(cfg, list):
        if len(cfg) != 1:
            report.problems.append(
                f'connectors.{conn_name}: a list of {len(cfg)} '
                'connectors (nn.Sequential); mmkd takes one connector '
                'per loss.')
            return False
        cfg = cfg[0]
    cfg = dict(cfg)
    cfg['type'] = razor_type(cfg)
    cfg.pop('_scope_', None)
    cfg['_name'] = conn_name
    return cfg


def student_connector(name: str, s_conn: Optional[dict],
                      t_conn: Optional[dict], teacher_ok: bool,
                      report: Report) -> Union[dict, None, bool]:
    """The ``connector`` of mmkd loss ``name`` from the student and teacher
    connectors of :func:`connector_cfg`; mmkd connects the student only
    (a teacher connector only where the loss took it over,
    ``teacher_ok``).

    Returns:
        dict | None | bool: The config, None without one, False when
        unmappable.
    """
    if t_conn is not None and not teacher_ok:
        report.problems.append(
            f'connectors.{t_conn["_name"]} ({t_conn["type"]}) on the '
            f'teacher side of {name}: mmkd connects the student only.')
        return False
    if s_conn is None:
        return None
    if s_conn['type'] not in CONNECTORS:
        report.problems.append(
            f'connectors.{s_conn["_name"]}: connector type '
            f'{s_conn["type"]!r} has no mmkd equivalent.')
        return False
    return {k: v for k, v in s_conn.items() if k != '_name'}
