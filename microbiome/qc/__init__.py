"""Quality control of reads: trimming (cutadapt), numba filters, host removal, QC statistics."""
