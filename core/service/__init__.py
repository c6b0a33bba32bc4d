"""The application service: one Qt-free object, `Rollcall`, that owns a database with its gallery,
attendance, engine settings and active pipeline, and runs every operation on them; the CLI and the
desktop app are thin adapters over it. An operation that commits reports one `Changes` to the
subscribers, after its transaction committed (Anki's CollectionOp, napari's ViewerModel).

Threads: a SQLite connection belongs to the thread that opened it. A worker thread never uses the
GUI thread's service: it opens `service.connect()` (a new connection to the same file that shares
the subscribers, settings and active pipeline) and closes it when done. Subscribers are called on
the thread that ran the operation.
"""

from core.service.changes import Changes, ChangeHub
from core.service.engine import ActiveModelMissingError, build_active_pipeline
from core.service.operations import CalibrationError
from core.service.rollcall import Rollcall, ServiceError, database_location
from core.service.running import RunSummary, SourceRun
from core.service.settings import EngineSettings

__all__ = [
    "ActiveModelMissingError", "CalibrationError", "ChangeHub", "Changes", "EngineSettings", "Rollcall",
    "RunSummary", "ServiceError", "SourceRun", "build_active_pipeline", "database_location",
]
