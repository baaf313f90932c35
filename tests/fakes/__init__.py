"""Fakes shared by the test suite: the fake model server speaking the Anthropic and OpenAI wire formats."""
