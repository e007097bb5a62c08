"""The Python clients' shared parts: batch handles, the HTTP client, the progress bar (the Ray driver is engine.ray.driver)."""
