from tests.netlab.fixtures import net_manager
from tests.sandboxes.fixtures import call, manager, session_id

__all__ = ["call", "manager", "net_manager", "session_id"]
