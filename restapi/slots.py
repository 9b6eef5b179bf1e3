"""Bounded work in a threaded process: a few slots, and a bounded number waiting for one."""

import threading


def take_or_wait(
    slots: threading.BoundedSemaphore, waiting: threading.BoundedSemaphore, timeout: float
) -> bool:
    """Takes a slot at once, or waits up to `timeout` for one if a place to wait is free.
    False if neither: each waiter holds a request thread, so the places to wait bound how
    many threads the work can hold beyond its slots."""
    if slots.acquire(blocking=False):
        return True
    if not waiting.acquire(blocking=False):
        return False
    try:
        return slots.acquire(timeout=timeout)
    finally:
        waiting.release()
