"""glibc malloc settings for a threaded process that hashes passwords.

Each argon2 computation allocates PASSWORD_ARGON2_MEMORY_KIB (19 MiB) with malloc. glibc
serves the first one with mmap and gives it back at free, but then raises its mmap
threshold above that size, so every later one comes from the calling thread's arena and
stays resident after free: one block per request thread that ever hashed, 160-200 MiB per
worker with 8 threads. A threshold fixed at the hash's size keeps those blocks on mmap,
given back at free, while smaller buffers (a download's 8 MiB chunks) stay on the heap.
"""

import ctypes
import ctypes.util
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest on 64-bit


def return_blocks_of(size: int) -> bool:
    """Blocks of `size` bytes or more go to mmap from now on; False where that cannot be set
    (a C library other than glibc)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return bool(libc.mallopt(M_MMAP_THRESHOLD, min(size, MAX_MMAP_THRESHOLD)))
