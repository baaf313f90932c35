"""Per-session sandboxes: the ``Sandbox`` protocol, the bwrap and docker backends, and the host's manager."""

from activities.sandboxes.base import ExecResult, IsolationUnavailable, Sandbox, SandboxError, SandboxLimits
from activities.sandboxes.manager import SandboxManager

__all__ = ["ExecResult", "IsolationUnavailable", "Sandbox", "SandboxError", "SandboxLimits", "SandboxManager"]
