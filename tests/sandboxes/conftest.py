from tests.netlab.fixtures import credentials, internet, net_manager
from tests.sandboxes.fixtures import call, manager, session_id

__all__ = ["call", "credentials", "internet", "manager", "net_manager", "session_id"]
