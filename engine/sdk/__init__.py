"""The Python clients' shared parts (the Ray driver is engine.ray.driver).

inputs (items and DataFrames in), sync_operations (the five sync calls),
batch_handle (wait, results, to_file), results (records as a DataFrame),
http_client (the same interface over HTTP), progress (the bar on stderr).
"""
