"""Analysis of distillation runs: the KD doctor (``tools/analysis``)."""
from .diagnosis import Diagnosis, LossDiagnosis, average
from .doctor_plot import plot_doctor
from .doctor_run import DoctorResult, run_doctor
from .doctor_warnings import find_warnings
from .probes import diagnose, diagnose_self
from .scan import scan_teacher, with_scan
from .slice_eval import evaluate_slice
from .stats import TensorStats
from .teacher_check import OutOfScale, check_teacher

__all__ = [
    'diagnose', 'diagnose_self', 'find_warnings', 'average', 'scan_teacher',
    'with_scan', 'Diagnosis', 'LossDiagnosis', 'TensorStats', 'run_doctor',
    'DoctorResult', 'plot_doctor', 'evaluate_slice', 'check_teacher',
    'OutOfScale'
]
