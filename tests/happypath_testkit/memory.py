"""Resident memory of a process, from Linux's /proc (current and peak, the peak resettable for this one)."""

from pathlib import Path


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS since start or the last reset) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS: writing 5 to clear_refs. False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
