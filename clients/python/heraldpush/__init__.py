"""heraldpush: Python SDK for Herald (https://github.com/heraldpush/herald).

- ``Sender``: sends through the collect API, every call retried safely under
  an Idempotency-Key (standard library only).
- ``verify_webhook``: checks a receipts or connection webhook request.
- ``Client`` (``heraldpush.client``, needs the ``websockets`` package): an
  asyncio client that resumes, drops repeats, acks and reconnects.
"""

from .sender import HeraldError, Notification, Published, Recalled, Sender
from .webhook import verify_webhook

__all__ = ["HeraldError", "Notification", "Published", "Recalled", "Sender", "verify_webhook"]
