from shared_lib.migrations import run_env
from social_service.models import Base
from social_service.settings import SocialSettings

run_env(Base.metadata, SocialSettings().database_url)
