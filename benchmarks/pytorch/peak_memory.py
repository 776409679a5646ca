"""Peak resident memory of a training step, measured the way
bench_train_step measures nanogen's: reset the kernel's high-water mark
(VmHWM) before the model is built, read it after the timed steps, and report
it with and without the memory the process held before (Python and the
libraries loaded, which nanogen's binary does not carry)."""


def _status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak():
    """Resets VmHWM to the current RSS (Linux 4.0+); returns that RSS in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def report(base_mib):
    """' peak MiB P (+S)': the peak RSS since reset_peak and its rise above base_mib."""
    peak = _status_mib("VmHWM")
    return f" peak {peak:.0f} MiB (+{peak - base_mib:.0f})"
