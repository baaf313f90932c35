"""A private "internet" for the egress tests: a host in a network namespace of its own, reached over a veth pair."""
