"""Write shared-lib's subscriptions manifest from both services' handlers:
``make subscriptions`` (after adding, moving or removing a handler)."""

from core_service.handlers import SUBSCRIPTIONS as CORE_SUBSCRIPTIONS
from instasaga.topology import MANIFEST
from shared_lib.messaging.subscriptions import write_manifest
from social_service.handlers import SUBSCRIPTIONS as SOCIAL_SUBSCRIPTIONS

if __name__ == "__main__":
    write_manifest([CORE_SUBSCRIPTIONS, SOCIAL_SUBSCRIPTIONS], MANIFEST)
    print(f"written: {MANIFEST}")
