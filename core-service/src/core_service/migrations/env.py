from shared_lib.migrations import run_env

from core_service.models import Base
from core_service.settings import CoreSettings

run_env(Base.metadata, CoreSettings().database_url)
