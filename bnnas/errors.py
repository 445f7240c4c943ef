"""The library's own error types.

Every mistake a user can make (bad input, bad config, missing data, a run folder that already
exists) raises a :class:`BnnasError`. The command line prints its message as one line and
exits with code 2, without a traceback; anything else is a bug and keeps its traceback.
"""


class BnnasError(Exception):
    """A user-facing error whose message names the problem and the fix."""


class UnknownNameError(BnnasError):
    """A name (model, quantizer, dataset, ...) that no registry knows."""


class ConfigError(BnnasError):
    """An invalid configuration: unknown key, wrong type or out-of-range value."""


class DataError(BnnasError):
    """Missing, corrupt or malformed data files."""


class RunFolderError(BnnasError):
    """A run folder that cannot be created, written or resumed."""


class CheckpointError(BnnasError):
    """A checkpoint that is missing, corrupt or belongs to another model."""


class NonFiniteError(BnnasError):
    """A NaN or infinite loss or gradient stopped training."""


class GenotypeError(BnnasError):
    """A genotype (searched architecture) that is malformed, inconsistent or too large."""


class ExportError(BnnasError):
    """A model that cannot be deployed, or a deployed model file that is corrupt, foreign,
    of another format version, or fed an input of the wrong shape."""


class ReportError(BnnasError):
    """Folders a report cannot be built from: not run folders, corrupt result files, or no
    finished run at all."""


class SamplingError(BnnasError):
    """Random architectures that cannot meet their constraints (e.g. an OPs tolerance) within
    the draws allowed."""
