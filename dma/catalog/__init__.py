"""Which provider serves a model id, what the model costs and how much context it holds (API and worker share it)."""
