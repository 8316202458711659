"""Errors a user can cause. The CLI prints their message on one line and exits non-zero."""


class EvohybridError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ConfigError(EvohybridError):
    """A configuration or search-space file is invalid."""


class GenomeError(EvohybridError):
    """A genome does not fit its search space or is malformed."""


class DatasetError(EvohybridError):
    """A data set is unknown or its files are missing."""


class RunDirError(EvohybridError):
    """A run directory is missing, not a run, or already exists."""


class ExecutorLost(EvohybridError):
    """The workers went away (a dead Ray node or head): finished work is on disk, the run can be resumed."""


class DeviceLost(ExecutorLost):
    """A GPU failed in a way that leaves its process unable to compute again (a device-side assert, an illegal
    memory access): the worker must be replaced, the genome is not at fault."""
