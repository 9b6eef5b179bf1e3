"""glibc malloc settings for a threaded process that hashes passwords.

Each argon2 computation allocates PASSWORD_ARGON2_MEMORY_KIB (19 MiB) with malloc. glibc
serves the first one with mmap and gives it back at free, but then raises its mmap
threshold above that size, so every later one comes from the calling thread's arena and
stays resident after free: one block per request thread that ever hashed, 160-200 MiB per
worker with 8 threads. A fixed threshold keeps large blocks on mmap, returned at free.
"""

import ctypes
import ctypes.util
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1024 * 1024


def return_large_blocks() -> bool:
    """Fixes glibc's mmap threshold at 1 MiB; False where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
