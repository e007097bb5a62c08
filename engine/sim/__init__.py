"""The simulated OpenAI-compatible provider: the server, its generated content, and running it as a process."""
