"""What is asked and how answers are read: operations, prompt templates, JSON schemas, confidence, token estimates."""
