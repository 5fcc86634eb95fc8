"""The one place that turns the project's errors into a message and an exit status."""

from __future__ import annotations

__all__ = ["CLIError", "translate"]


class CLIError(Exception):
    """An error whose message is shown to the user as is; ``code`` 2 for a usage error (the
    default), 1 for a failure."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def translate(err: BaseException) -> tuple[int, str] | None:
    """The one place that turns the project's errors into an exit status and a message.

    2: the command line asks for something invalid or absent (usage); 1: what was asked could
    not be done (corrupt or mismatched curves, unwritable store, missing data, no memory).
    None: not an error a user can act on; it keeps its traceback.
    """
    from taskset_torch.curves import CurveStoreError

    if isinstance(err, CLIError):
        return err.code, str(err)
    if isinstance(err, CurveStoreError):
        text = str(err)
        if type(err).__name__ == "ProtocolMismatch":
            text += " (generate: --store ANOTHER_DIR, or --force)"
        return 1, text
    if isinstance(err, FileNotFoundError):
        return 2, f"{err.strerror}: {err.filename}" if err.filename else str(err)
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return 1, f"{err.strerror or err}{where}"
    if isinstance(err, KeyError):
        return 2, str(err.args[0]) if err.args else "unknown name"
    if isinstance(err, ValueError):
        return 2, str(err)
    if isinstance(err, ImportError):
        return 1, str(err)
    if type(err).__name__ == "SubstituteError":
        return 1, str(err)
    if isinstance(err, (RuntimeError, MemoryError)):
        from taskset_torch.runner import _is_oom

        if _is_oom(err):
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else "MemoryError"
            return 1, (
                f"out of memory even for one config at a time ({first}); try a smaller task, "
                "fewer --eval-batches, or another --device"
            )
    return None
