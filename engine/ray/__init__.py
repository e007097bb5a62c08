"""The Ray shells: actors, the caller pool, the batch runner and the embedded driver. The only package of the engine that imports Ray."""
