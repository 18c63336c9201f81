"""The one place for opslake's exception types."""


class OpslakeError(Exception):
    """Base class of every error opslake raises on purpose."""


class ConfigError(OpslakeError):
    """Raised when the configuration is missing or inconsistent."""


class NotFoundError(OpslakeError):
    """Raised when a name the user gave (a canned query, a job, ...) does not exist; lists the known ones."""


class QueryError(OpslakeError):
    """Raised when the SQL engine rejects a statement (syntax, unknown table or column, runtime failure)."""


class ServiceUnavailableError(OpslakeError):
    """Raised when a service we depend on (Spark, MinIO, Trino, Marquez, ...) cannot be reached."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} is not reachable: {detail}")
        self.service = service


class SourceFileError(OpslakeError):
    """Raised when a landing or source file is corrupt or has the wrong schema."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


class DownloadError(OpslakeError):
    """Raised when a pinned artifact (jar, JDK) cannot be downloaded or fails its checksum."""


class ModelArtifactError(OpslakeError):
    """Raised when a model artifact cannot be decoded or is not an AnomalyModel."""


class FeatureMismatchError(OpslakeError):
    """Raised when the features given to train/score lack columns the model needs."""


class SchemaMismatchError(OpslakeError):
    """Raised when a job's output or an existing table does not match the declared table schema."""


class NoDataError(OpslakeError):
    """Raised when a step has nothing to work on (no landed rows, no trained model for the dates)."""
