from core_service.models import Base
from core_service.settings import CoreSettings
from shared_lib.migrations import run_env

run_env(Base.metadata, CoreSettings().database_url)
