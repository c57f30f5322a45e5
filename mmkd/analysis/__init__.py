"""Analysis of distillation runs: the KD doctor (``tools/analysis``)."""
from .doctor_plot import plot_doctor
from .doctor_run import DoctorResult, run_doctor
from .kd_doctor import (Diagnosis, LossDiagnosis, TensorStats, average,
                        diagnose, diagnose_self, find_warnings, scan_teacher,
                        with_scan)
from .slice_eval import evaluate_slice

__all__ = [
    'diagnose', 'diagnose_self', 'find_warnings', 'average', 'scan_teacher',
    'with_scan', 'Diagnosis', 'LossDiagnosis', 'TensorStats', 'run_doctor',
    'DoctorResult', 'plot_doctor', 'evaluate_slice'
]
