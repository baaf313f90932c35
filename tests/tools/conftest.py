from tests.sandboxes.fixtures import call, manager, session_id

__all__ = ["call", "manager", "session_id"]
